# Random- and fixed-effects models: metafor::rma.uni. Per-study diagnostics are left to
# kb_augment, because Cook's distances refit the model k times (most of the cost of a fit).
kb_rma <- function(model) {
  kb_guard(kb_model_call(model), {
    fit <- kb_fit(model)
    list(glance = kb_glance(fit), tidy = kb_tidy(fit))
  })
}
