# Selection models: metafor::selmodel on a fitted rma.uni model. Returns the adjusted model (glance,
# tidy), the likelihood-ratio tests and the selection parameters (delta) as a table; for step
# functions each delta row carries its p-value interval and the number of studies in it.
kb_selmodel <- function(model, selection) {
  kb_guard(kb_selmodel_call(model, selection), {
    sel <- kb_selmodel_fit(model, selection)
    deltas <- length(sel$delta)
    stepwise <- sel$type == "stepfun"
    bounds <- if (stepwise) c(0, sel$steps) else rep(NA_real_, deltas + 1L)
    counts <- if (stepwise && !is.null(sel$ptable$k)) as.integer(sel$ptable$k) else rep(NA_integer_, deltas)
    fixed <- if (is.null(sel$delta.fix)) rep(FALSE, deltas) else as.logical(sel$delta.fix)
    list(
      glance = list(
        type = sel$type, alternative = sel$alternative, k = sel$k,
        k_subset = if (is.null(sel$k1)) sel$k else as.integer(sel$k1), method = sel$method,
        estimate = kb_num(sel$beta), std_error = kb_num(sel$se), statistic = kb_num(sel$zval),
        p_value = kb_num(sel$pval), conf_low = kb_num(sel$ci.lb), conf_high = kb_num(sel$ci.ub),
        tau2 = kb_num(sel$tau2), tau2_se = kb_num(sel$se.tau2),
        lrt = kb_num(sel$LRT), lrt_df = as.integer(sel$LRTdf), lrt_pvalue = kb_num(sel$LRTp),
        lrt_tau2 = kb_num(sel$LRT.tau2), lrt_tau2_pvalue = kb_num(sel$LRTp.tau2),
        loglik = kb_num(sel$ll)
      ),
      tidy = kb_tidy(sel),
      weights = list(
        term = paste0("delta.", seq_len(deltas)),
        p_low = bounds[seq_len(deltas)], p_high = bounds[seq_len(deltas) + 1L], k = counts,
        estimate = as.numeric(sel$delta), std_error = kb_column(sel$se.delta, deltas),
        statistic = kb_column(sel$zval.delta, deltas), p_value = kb_column(sel$pval.delta, deltas),
        conf_low = kb_column(sel$ci.lb.delta, deltas), conf_high = kb_column(sel$ci.ub.delta, deltas),
        fixed = fixed
      )
    )
  })
}
