# Helpers for the per-study tables of kb_leave1out, kb_cumul and kb_influence.

# Each study's label: the user's, or its 1-based position when there are none.
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
