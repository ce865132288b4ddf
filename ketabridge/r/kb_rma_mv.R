# Multilevel and multivariate models: metafor::rma.mv, with its variance components and the
# multilevel I^2. Per-estimate diagnostics are left to kb_rma_mv_augment (computed on first use).
kb_rma_mv <- function(model) {
  kb_guard(kb_mv_call_text(model), {
    fit <- kb_mv_fit(model)
    list(glance = kb_mv_glance(fit), tidy = kb_mv_tidy(fit), components = kb_mv_components(fit))
  })
}
