# The estimated selection function: metafor's plot.rma.uni.selmodel, written to plot$path (see
# helpers_plot.R for `plot`). ci: FALSE, or "wald" for Wald-type bounds around the function.
kb_selmodel_plot <- function(model, selection, plot, ci) {
  options <- if (isFALSE(ci)) list() else list(ci = ci)
  shown <- kb_plot_options_text(list(device = plot$device, width = plot$width, height = plot$height, dpi = plot$dpi))
  call_text <- paste0(shown$device, "; ", kb_call_text("plot", character(), options, inner = kb_selmodel_call(model, selection)))
  kb_guard(call_text, {
    sel <- kb_selmodel_fit(model, selection)
    args <- c(list(sel), options)
    kb_draw_file(plot, function() do.call("plot.rma.uni.selmodel", args, envir = asNamespace("metafor")))
    list(path = plot$path, k = sel$k)
  })
}
