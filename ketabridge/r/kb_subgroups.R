# Subgroup analysis: one rma.uni fit per subgroup, then the test of subgroup differences as in
# metafor's "Comparing Estimates of Independent Meta-Analyses or Subgroups" (metafor-project.org,
# tips:comp_two_independent_estimates): an equal-effects model on the subgroup estimates and their
# standard errors, whose Q test (df = groups - 1) is the Wald-type test of equal estimates.
# models: one model list per subgroup; labels: the subgroups' names (display only).
kb_subgroups <- function(models, column, labels) {
  level_calls <- vapply(seq_along(models), function(i) {
    sub("\\)$", paste0(", subset = ", kb_backquote(column), " == ", deparse(labels[[i]]), ")"), kb_model_call(models[[i]]))
  }, character(1))
  between_call <- "rma.uni(yi = estimate, sei = std_error, method = \"EE\")  # one row per subgroup"
  kb_guard(paste(c(level_calls, between_call), collapse = "; "), {
    fits <- lapply(models, kb_subgroup_fit)
    estimates <- vapply(fits, function(part) kb_num(part$fit$beta), numeric(1))
    std_errors <- vapply(fits, function(part) kb_num(part$fit$se), numeric(1))
    between <- metafor::rma.uni(yi = estimates, sei = std_errors, method = "EE")
    list(
      levels = setNames(lapply(seq_along(fits), function(i) list(
        glance = kb_glance(fits[[i]]$fit), tidy = kb_tidy(fits[[i]]$fit),
        warnings = fits[[i]]$warnings, call = unname(level_calls[[i]])
      )), names(models)),
      between = list(q_between = kb_num(between$QE), df = as.integer(between$k - 1L), p_value = kb_num(between$QEp))
    )
  })
}

# One subgroup's fit and the warnings it raised (passed on to kb_guard as well), so Python can
# tell which subgroup's estimator did not converge.
kb_subgroup_fit <- function(model) {
  caught <- character()
  fit <- withCallingHandlers(kb_fit(model), warning = function(w) caught <<- c(caught, conditionMessage(w)))
  list(fit = fit, warnings = caught)
}
