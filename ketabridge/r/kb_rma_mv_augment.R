# One row per estimate of an rma.mv model: weights, fitted values, residuals and hat values
# (metafor's weights/fitted/residuals/rstandard/hatvalues for rma.mv; Cook's distances are left
# out: they refit the model once per estimate).
kb_rma_mv_augment <- function(model) {
  kb_guard(kb_mv_call_text(model), {
    fit <- kb_mv_fit(model)
    k <- fit$k
    list(
      study = as.character(fit$slab[fit$not.na]), yi = as.numeric(fit$yi), vi = as.numeric(fit$vi),
      weight = kb_diagnostic("weights", k, metafor::weights.rma.mv(fit)),
      fitted = kb_diagnostic("fitted values", k, fitted(fit)),
      residual = kb_diagnostic("residuals", k, residuals(fit)),
      std_residual = kb_diagnostic("standardized residuals", k, metafor::rstandard.rma.mv(fit)$z),
      hat = kb_diagnostic("hat values", k, metafor::hatvalues.rma.mv(fit))
    )
  })
}
