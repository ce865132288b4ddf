# Bubble plot of a meta-regression: metafor::regplot.rma against moderator `mod` (a 1-based
# coefficient index, resolved from its name in Python), written to plot$path; pi adds the
# prediction interval bounds. See helpers_plot.R for `plot`.
kb_regplot <- function(model, mod, plot) {
  options <- list(mod = as.integer(mod), pi = isTRUE(plot$pi))
  shown <- kb_plot_options_text(plot, options)
  call_text <- paste0(shown$device, "; ",
                      kb_call_text("regplot", character(), shown$options, inner = kb_fitted_call(model)))
  kb_guard(call_text, {
    fit <- kb_fitted(model)
    args <- c(list(fit), options, kb_plot_transform(plot))
    kb_draw_file(plot, function() do.call(metafor::regplot.rma, args))
    list(path = plot$path, k = fit$k)
  })
}
