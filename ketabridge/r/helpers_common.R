# Helpers shared by every kb_* entry point (this file defines none). Loaded once per R session,
# with every ketabridge/r/*.R file, into a private environment. Every entry point takes plain vectors and
# lists and returns kb_guard's plain list:
#   list(ok = TRUE/FALSE, value = <tables>, error = <message>, failing_call = <function>,
#        warnings = <character>, call = <the R call as text>)

# Run expr, returning its value and R's warnings and error as data, never as console text.
kb_guard <- function(call_text, expr) {
  caught <- character()
  outcome <- withCallingHandlers(
    tryCatch(
      list(ok = TRUE, value = expr),
      error = function(e) {
        head <- conditionCall(e)[1L][[1L]]
        # only a name is shown: the head of a do.call()'d call is the function itself, and
        # deparsing all of rma.uni's source for every failed fit of a batch costs more than the fit
        list(ok = FALSE, error = conditionMessage(e),
             failing_call = if (is.name(head)) as.character(head) else "")
      }
    ),
    warning = function(w) {
      caught <<- c(caught, conditionMessage(w))
      invokeRestart("muffleWarning")
    },
    message = function(m) invokeRestart("muffleMessage")
  )
  c(outcome, list(warnings = caught, call = call_text))
}

# The call as a person would type it, for provenance: columns by name (as columns of `dat`),
# options by value. Display only; it is never parsed or evaluated.
kb_call_text <- function(fun, columns, options = list(), inner = NULL) {
  shown_options <- vapply(names(options), function(name) {
    paste(name, "=", paste(deparse(options[[name]], width.cutoff = 500L), collapse = " "))
  }, character(1))
  parts <- c(inner, if (length(columns)) paste(names(columns), "=", columns), if (length(columns)) "data = dat",
             shown_options)
  paste0(fun, "(", paste(parts, collapse = ", "), ")")
}

kb_backquote <- function(name) deparse(as.name(name), backtick = TRUE)

kb_num <- function(x) if (is.null(x) || length(x) == 0L) NA_real_ else as.numeric(x[[1L]])

# metafor leaves out a column it has no value for (se after a transform, PIs of EE models).
kb_column <- function(values, n) if (is.null(values)) rep(NA_real_, n) else as.numeric(values)

# model: list(yi, vi | sei, weights, ni, slab, mods = named list, measure, method, test,
#             level, weighted, control = named list); absent parts are left out.
kb_model_call <- function(model) {
  vectors <- intersect(c("yi", "vi", "sei", "weights", "ni", "slab"), names(model))
  columns <- setNames(vectors, vectors)
  if (!is.null(model$formula)) {
    columns <- c(columns, mods = model$formula)
  } else if (length(model$mods)) {
    columns <- c(columns, mods = paste0("cbind(", paste(vapply(names(model$mods), kb_backquote, ""), collapse = ", "), ")"))
  }
  if (!is.null(model$scale)) columns <- c(columns, scale = model$scale)
  options <- model[intersect(c("measure", "method", "test", "level", "weighted", "control"), names(model))]
  kb_call_text("rma.uni", columns, options)
}

kb_fit <- function(model) {
  args <- model[setdiff(names(model), c("mods", "formula", "scale", "scale_data"))]
  if (!is.null(model$formula)) {
    args$mods <- kb_formula(model$formula, names(model$mods))
    args$data <- kb_formula_data(model$mods)
  } else if (length(model$mods)) {
    args$mods <- do.call(cbind, model$mods)
  }
  if (!is.null(model$scale)) {  # a location-scale model: its columns join the formula data
    args$scale <- kb_formula(model$scale, names(model$scale_data))
    shared <- c(if (!is.null(model$formula)) model$mods, model$scale_data)
    args$data <- kb_formula_data(shared[!duplicated(names(shared))])
  }
  do.call("rma.uni", args, envir = asNamespace("metafor"))  # by name, so errors name rma.uni
}

kb_glance <- function(fit) {
  # location-scale models (rma.ls) have no prediction of an intercept-only model in metafor
  prediction <- if (fit$int.only && !inherits(fit, "rma.ls")) metafor::predict.rma(fit) else NULL
  glance <- list(
    k = fit$k, measure = fit$measure, method = fit$method, test = fit$test,
    level = 100 * (1 - fit$level),
    estimate = kb_num(fit$beta), std_error = kb_num(fit$se), statistic = kb_num(fit$zval),
    df = kb_num(fit$ddf), p_value = kb_num(fit$pval),
    conf_low = kb_num(fit$ci.lb), conf_high = kb_num(fit$ci.ub),
    pi_low = kb_num(prediction$pi.lb), pi_high = kb_num(prediction$pi.ub),
    tau2 = kb_num(fit$tau2), tau2_se = kb_num(fit$se.tau2), tau = sqrt(kb_num(fit$tau2)),
    i2 = kb_num(fit$I2), h2 = kb_num(fit$H2),
    q = kb_num(fit$QE), q_df = fit$k - fit$p, q_pvalue = kb_num(fit$QEp),
    qm = kb_num(fit$QM), qm_df = as.integer(fit$QMdf[1L]), qm_pvalue = kb_num(fit$QMp)
  )  # `converged` is added in Python from R's warnings: some estimators only warn
  if (inherits(fit, "rma.ls")) glance <- kb_scale_glance(fit, glance)
  glance
}

# A location-scale model (rma.ls): the omnibus test of its scale coefficients (metafor's QS,
# printed as "Test of Scale Coefficients"); with scale moderators tau^2 (and I^2, H^2) differs by
# study, so the single values of the glance are NA there (metafor prints none either).
kb_scale_glance <- function(fit, glance) {
  if (length(unique(fit$tau2)) > 1L) glance[c("tau2", "tau2_se", "tau", "i2", "h2")] <- NA_real_
  c(glance, list(qs = kb_num(fit$QS), qs_df = as.integer(fit$QSdf[1L]), qs_pvalue = kb_num(fit$QSp)))
}

# metafor 3.8's fitted() of a location-scale model is list(location, scale); later releases give
# the location part alone, the fitted values of the other models.
kb_location_fitted <- function(fit) {
  values <- fitted(fit)
  if (is.list(values)) values$location else values
}

# component: "location" for the coefficients of the mean; a location-scale model (class rma.ls)
# adds its scale coefficients (metafor's alpha, on the log tau^2 scale) as "scale" rows.
kb_tidy <- function(fit) {
  location <- list(
    term = rownames(fit$beta), estimate = as.numeric(fit$beta), std_error = as.numeric(fit$se),
    statistic = as.numeric(fit$zval), p_value = as.numeric(fit$pval),
    conf_low = as.numeric(fit$ci.lb), conf_high = as.numeric(fit$ci.ub),
    component = rep("location", length(fit$beta))
  )
  if (!inherits(fit, "rma.ls")) return(location)
  scale <- list(
    term = rownames(fit$alpha), estimate = as.numeric(fit$alpha), std_error = as.numeric(fit$se.alpha),
    statistic = as.numeric(fit$zval.alpha), p_value = as.numeric(fit$pval.alpha),
    conf_low = as.numeric(fit$ci.lb.alpha), conf_high = as.numeric(fit$ci.ub.alpha),
    component = rep("scale", length(fit$alpha))
  )
  Map(c, location, scale)
}

# Case diagnostics can fail on small or degenerate data (e.g. a leave-one-out refit that does
# not converge); that must not lose the model, so such a column becomes NA with a warning.
kb_diagnostic <- function(what, k, expr) {
  tryCatch(as.numeric(expr), error = function(e) {
    warning(sprintf("%s not available: %s", what, conditionMessage(e)), call. = FALSE)
    rep(NA_real_, k)
  })
}

# labels: the user's study labels, returned as given (metafor makes duplicates unique, and
# trim-and-fill appends its filled studies after them).
kb_study_table <- function(fit, labels = NULL) {
  k <- fit$k
  study <- as.character(fit$slab[fit$not.na])
  if (!is.null(labels)) study[seq_along(labels)] <- labels
  list(
    study = study,
    yi = as.numeric(fit$yi), vi = as.numeric(fit$vi),
    weight = kb_diagnostic("weights", k, metafor::weights.rma.uni(fit)),
    fitted = kb_diagnostic("fitted values", k, kb_location_fitted(fit)),
    residual = kb_diagnostic("residuals", k, residuals(fit)),
    std_residual = kb_diagnostic("standardized residuals", k, metafor::rstandard.rma.uni(fit)$z),
    hat = kb_diagnostic("hat values", k, metafor::hatvalues.rma.uni(fit)),
    cooks_distance = kb_diagnostic("Cook's distances", k, cooks.distance(fit))
  )
}
