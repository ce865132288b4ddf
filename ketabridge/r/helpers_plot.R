# Helpers for the plot entry points (kb_forest, kb_funnel): open the device the file's suffix
# names, always close it again, and refit the model the plot shows.
# plot: list(path, device = "png" | "svg" | "pdf", width, height (inches), dpi, transform,
#            ni (sample sizes for ipft.hm)); model: the list every kb_* entry point takes;
# fill: NULL, or list(side, estimator) to draw the trim-and-fill version of the model.

kb_open_device <- function(plot) {
  # R's devices read "%d" in a file name as a page number; the user's path is data, not a format
  file <- gsub("%", "%%", plot$path, fixed = TRUE)
  switch(plot$device,
    png = grDevices::png(file, width = plot$width, height = plot$height, units = "in", res = plot$dpi,
                         type = "cairo"),
    svg = grDevices::svg(file, width = plot$width, height = plot$height),
    pdf = grDevices::pdf(file, width = plot$width, height = plot$height),
    stop(sprintf("unknown device '%s'", plot$device), call. = FALSE)
  )
  grDevices::dev.cur()
}

# Draw into the file and close exactly the device opened here, also when drawing fails.
kb_draw_file <- function(plot, draw) {
  device <- kb_open_device(plot)
  on.exit(grDevices::dev.off(device), add = TRUE)
  draw()
  plot$path
}

kb_plot_fit <- function(model, fill) {
  if (!is.null(model$random)) return(kb_mv_fit(model))  # an rma.mv model (helpers_mv.R)
  if (is.null(fill)) kb_fit(model) else kb_trimfill_fit(model, fill$side, fill$estimator)
}

kb_plot_model_text <- function(model, fill) {
  if (!is.null(model$random)) return(kb_mv_call_text(model))
  if (is.null(fill)) return(kb_model_call(model))
  kb_call_text("trimfill", character(), list(side = fill$side, estimator = fill$estimator),
               inner = kb_model_call(model))
}

# The measure's natural scale: plot$axis is "atransf" (a log axis labelled as ratios) or
# "transf" (values moved onto the proportion scale); targs carries ni for ipft.hm.
kb_plot_transform <- function(plot) {
  if (is.null(plot$transform)) return(list())
  args <- setNames(list(kb_transform(plot$transform)), plot$axis)
  if (!is.null(plot$ni)) args$targs <- list(ni = plot$ni)
  args
}

kb_plot_options_text <- function(plot, extra = list()) {
  transform <- if (!is.null(plot$transform)) kb_transform_shown(plot$transform, plot$ni)
  if (length(transform)) names(transform)[1L] <- plot$axis
  shown <- c(transform, extra)
  device <- sprintf("%s(file, width = %s, height = %s%s)", plot$device, plot$width, plot$height,
                    if (plot$device == "png") sprintf(", units = \"in\", res = %s, type = \"cairo\"", plot$dpi) else "")
  list(options = shown, device = device)
}
