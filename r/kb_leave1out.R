# Leave-one-out estimates: metafor::leave1out.rma.uni, one row per left-out study.
kb_case_labels <- function(model, k) if (is.null(model$slab)) as.character(seq_len(k)) else model$slab

# The columns leave1out and cumul share (metafor's list.rma with one row per refit; the
# statistic is named tval under t-based tests, and cumul's p-values pvals).
kb_refit_table <- function(refits, study) {
  n <- length(refits$estimate)
  list(
    study = study, estimate = as.numeric(refits$estimate), std_error = kb_column(refits$se, n),
    statistic = as.numeric(if (is.null(refits$zval)) refits$tval else refits$zval), p_value = as.numeric(if (is.null(refits$pval)) refits$pvals else refits$pval),
    conf_low = as.numeric(refits$ci.lb), conf_high = as.numeric(refits$ci.ub),
    q = as.numeric(refits$Q), q_pvalue = as.numeric(refits$Qp), tau2 = kb_column(refits$tau2, n),
    i2 = as.numeric(refits$I2), h2 = as.numeric(refits$H2)
  )
}

kb_leave1out <- function(model, transform = NULL, ni = NULL) {
  options <- kb_transf_options(transform, ni)
  kb_guard(kb_call_text("leave1out", character(), options, inner = kb_model_call(model)), {
    fit <- kb_fit(model)
    refits <- do.call(metafor::leave1out.rma.uni, c(list(fit), kb_transf_args(transform, ni)))
    kb_refit_table(refits, kb_case_labels(model, fit$k))
  })
}
