# Funnel plot: metafor::funnel.rma of the model (or its trim-and-fill version, whose filled
# studies metafor draws as open circles), written to plot$path. plot$contours adds the
# contour-enhanced version of ?funnel (Peters et al. 2008): 90/95/99% regions around 0.
kb_funnel <- function(model, fill, plot) {
  contours <- if (isTRUE(plot$contours)) {
    list(level = c(90, 95, 99), shade = c("white", "gray55", "gray75"), refline = 0, legend = TRUE)
  } else list()
  shown <- kb_plot_options_text(plot, contours)
  call_text <- paste0(shown$device, "; ",
                      kb_call_text("funnel", character(), shown$options, inner = kb_plot_model_text(model, fill)))
  kb_guard(call_text, {
    fit <- kb_plot_fit(model, fill)
    args <- c(list(fit), contours, kb_plot_transform(plot))
    kb_draw_file(plot, function() do.call(metafor::funnel.rma, args))
    list(path = plot$path, k = fit$k, filled = if (is.null(fill)) 0L else sum(fit$fill))
  })
}
