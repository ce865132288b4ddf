# Predicted random effects of an rma.mv model: metafor::ranef.rma.mv, one table per random term
# (named as metafor names them: "district", "district/school", "outcome | trial"), stacked with
# the term in a column. metafor pads the "inner | outer" labels to align them: trimmed here.
kb_ranef_mv <- function(model, level) {
  kb_guard(kb_call_text("ranef", character(), list(level = level), inner = kb_fitted_call(model)), {
    fit <- kb_fitted(model)
    effects <- metafor::ranef(fit, level = level)
    if (!is.list(effects) || is.data.frame(effects))
      stop("metafor gives no random-effects tables for this model (struct GEN or GDIAG)", call. = FALSE)
    counts <- vapply(effects, nrow, 1L)
    column <- function(name) unlist(lapply(effects, function(table) as.numeric(table[[name]])), use.names = FALSE)
    list(
      term = rep(names(effects), counts),
      level = trimws(unlist(lapply(effects, rownames), use.names = FALSE)),
      estimate = column("intrcpt"), std_error = column("se"),
      pi_low = column("pi.lb"), pi_high = column("pi.ub")
    )
  })
}
