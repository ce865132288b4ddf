# Profile log-likelihood of the variance component: metafor's profile.rma.uni, evaluated at
# `steps` values (a count, or the values themselves) over xlim (NULL: metafor's default range).
# plot (NULL: no plot) draws metafor's own profile plot into plot$path (see helpers_plot.R).
kb_profile <- function(model, steps, xlim = NULL, plot = NULL) {
  options <- c(list(steps = steps), if (!is.null(xlim)) list(xlim = xlim), list(progbar = FALSE))
  shown <- kb_call_text("profile", character(), options, inner = kb_fitted_call(model))
  if (!is.null(plot)) shown <- paste0(kb_plot_options_text(plot)$device, "; plot(", shown, ")")
  kb_guard(shown, {
    fit <- kb_fitted(model)
    profiled <- do.call(stats::profile, c(list(fit, plot = FALSE), options))
    if (!is.null(plot)) kb_draw_file(plot, function() graphics::plot(profiled))
    n <- length(profiled$ll)
    list(
      component = rep(names(profiled)[1L], n),  # tau2 for rma.uni
      value = as.numeric(profiled[[1L]]), loglik = as.numeric(profiled$ll),
      estimate = rep(kb_num(profiled$vc), n), max_loglik = rep(as.numeric(profiled$maxll), n)
    )
  })
}
