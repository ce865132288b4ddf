# Random- and fixed-effects models: metafor::rma.uni.
kb_rma <- function(model) {
  kb_guard(kb_model_call(model), {
    fit <- kb_fit(model)
    list(glance = kb_glance(fit), tidy = kb_tidy(fit), augment = kb_augment(fit, model$slab))
  })
}
