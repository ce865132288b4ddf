# Forest plot: metafor::forest.rma of the model (or its trim-and-fill version, with the filled
# studies drawn in grey), written to plot$path. See helpers_plot.R for `plot` and `fill`.
kb_forest <- function(model, fill, plot) {
  # proportions have no null value to mark, so no reference line (refline = NA)
  refline <- if (isTRUE(plot$refline)) list() else list(refline = NA)
  shown <- kb_plot_options_text(plot, c(list(addpred = isTRUE(plot$addpred), header = TRUE), refline))
  call_text <- paste0(shown$device, "; ",
                      kb_call_text("forest", character(), shown$options, inner = kb_plot_model_text(model, fill)))
  kb_guard(call_text, {
    fit <- kb_plot_fit(model, fill)
    filled <- if (is.null(fill)) rep(FALSE, fit$k.all) else fit$fill
    args <- c(list(fit, addpred = isTRUE(plot$addpred), header = TRUE,
                   colout = ifelse(filled, "gray55", "black")),
              refline, kb_plot_transform(plot))
    kb_draw_file(plot, function() do.call(metafor::forest.rma, args))
    list(path = plot$path, k = fit$k, filled = sum(filled))
  })
}
