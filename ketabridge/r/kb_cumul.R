# Cumulative meta-analysis: metafor::cumul.rma.uni, studies added in the order of `order`.
kb_cumul <- function(model, order, transform = NULL, ni = NULL) {
  options <- c(list(order = "order"), kb_transf_options(transform, ni))
  kb_guard(kb_call_text("cumul", character(), options, inner = kb_model_call(model)), {
    fit <- kb_fit(model)
    refits <- do.call(metafor::cumul.rma.uni, c(list(fit, order = order), kb_transf_args(transform, ni)))
    added <- as.integer(refits$ids)  # position (1-based) of the study added at each step
    c(kb_refit_table(refits, kb_case_labels(model, fit$k)[added]), list(k = seq_along(added), position = added - 1L))
  })
}
