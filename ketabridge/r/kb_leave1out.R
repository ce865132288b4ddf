# Leave-one-out estimates: metafor::leave1out.rma.uni, one row per left-out study.
kb_leave1out <- function(model, transform = NULL, ni = NULL) {
  options <- kb_transf_options(transform, ni)
  kb_guard(kb_call_text("leave1out", character(), options, inner = kb_model_call(model)), {
    fit <- kb_fit(model)
    refits <- do.call(metafor::leave1out.rma.uni, c(list(fit), kb_transf_args(transform, ni)))
    kb_refit_table(refits, kb_case_labels(model, fit$k))
  })
}
