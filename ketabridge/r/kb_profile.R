# Profile log-likelihood of variance components: metafor's profile.rma.uni (tau2), or
# profile.rma.mv for the components list(arg = "sigma2"/"tau2"/"rho"/"gamma2"/"phi", pos = its
# number, term = its name in components()), each evaluated at `steps` values (a count, or the
# values themselves) over xlim (NULL: metafor's default range). plot (NULL: no plot) draws
# metafor's own profile plot into plot$path (see helpers_plot.R); several components are drawn
# as metafor draws them, one panel each (its list of profiles with `comps`).
kb_profile <- function(model, steps, xlim = NULL, plot = NULL, components = NULL) {
  options <- c(list(steps = steps), if (!is.null(xlim)) list(xlim = xlim), list(progbar = FALSE))
  shown <- if (is.null(components)) {
    kb_call_text("profile", character(), options, inner = kb_fitted_call(model))
  } else {
    paste(vapply(seq_along(components$arg), function(i) {
      kb_call_text("profile", character(), c(setNames(list(components$pos[i]), components$arg[i]), options),
                   inner = kb_fitted_call(model))
    }, ""), collapse = "; ")
  }
  if (!is.null(plot)) shown <- paste0(kb_plot_options_text(plot)$device, "; plot(", shown, ")")
  kb_guard(shown, {
    fit <- kb_fitted(model)
    if (is.null(components)) {
      profiles <- list(do.call(stats::profile, c(list(fit, plot = FALSE), options)))
      terms <- names(profiles[[1L]])[1L]  # tau2 for rma.uni
    } else {
      profiles <- lapply(seq_along(components$arg), function(i) {
        do.call(stats::profile, c(list(fit, plot = FALSE), setNames(list(components$pos[i]), components$arg[i]),
                                           options))
      })
      terms <- components$term
    }
    if (!is.null(plot)) {
      drawn <- if (length(profiles) == 1L) profiles[[1L]] else structure(c(profiles, list(comps = length(profiles))),
                                                                         class = "profile.rma")
      kb_draw_file(plot, function() {
        if (length(profiles) > 1L) graphics::par(mfrow = grDevices::n2mfrow(length(profiles)))
        graphics::plot(drawn)
      })
    }
    counts <- vapply(profiles, function(profiled) length(profiled$ll), 1L)
    list(
      component = rep(terms, counts),
      value = unlist(lapply(profiles, function(profiled) as.numeric(profiled[[1L]]))),
      loglik = unlist(lapply(profiles, function(profiled) as.numeric(profiled$ll))),
      estimate = rep(vapply(profiles, function(profiled) kb_num(profiled$vc), 0), counts),
      max_loglik = rep(vapply(profiles, function(profiled) as.numeric(profiled$maxll), 0), counts)
    )
  })
}
