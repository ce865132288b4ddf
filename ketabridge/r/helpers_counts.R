# Helpers shared by the count-data entry points (kb_rma_mh, kb_rma_peto, kb_rma_glmm): their
# glance, tidy and per-study tables. counts: named list of per-study vectors (metafor's argument
# names: ai, bi, ci, di, n1i, n2i, x1i, x2i, t1i, t2i, xi, mi, ti, ni); transform: "" or the name
# of the back-transform to the natural scale ("exp", "ilogit").

kb_natural <- function(values, transform) {
  switch(transform, exp = exp(values), ilogit = metafor::transf.ilogit(values), values)
}

# The heterogeneity test's df as metafor prints it: rma.glmm's QE.df; Peto's over the tables with
# a variance (k.pos - 1); Mantel-Haenszel's over the studies with a yi (k.yi - 1).
kb_count_q_df <- function(fit, model) {
  if (!is.null(fit$QE.df)) return(as.integer(fit$QE.df[1L]))
  as.integer(max(0L, if (identical(model, "Peto")) fit$k.pos - 1L else fit$k.yi - 1L))
}

# One glance row for rma.mh / rma.peto / rma.glmm fits; NA where a model has no such quantity.
kb_count_glance <- function(fit, model, transform) {
  prediction <- if (isTRUE(fit$int.only)) metafor::predict.rma(fit) else NULL
  qe <- if (is.null(fit$QE.Wld)) fit$QE else fit$QE.Wld
  qep <- if (is.null(fit$QEp.Wld)) fit$QEp else fit$QEp.Wld
  list(
    model = model, k = fit$k, k_all = fit$k.all, k_yi = kb_num(fit$k.yi), measure = fit$measure,
    method = if (is.null(fit$method)) model else fit$method, test = if (is.null(fit$test)) "z" else fit$test,
    level = 100 * (1 - fit$level),
    estimate = kb_num(fit$beta), std_error = kb_num(fit$se), statistic = kb_num(fit$zval),
    df = kb_num(fit$ddf), p_value = kb_num(fit$pval),
    conf_low = kb_num(fit$ci.lb), conf_high = kb_num(fit$ci.ub),
    pi_low = kb_num(prediction$pi.lb), pi_high = kb_num(prediction$pi.ub),
    estimate_natural = kb_natural(kb_num(fit$beta), transform),
    conf_low_natural = kb_natural(kb_num(fit$ci.lb), transform),
    conf_high_natural = kb_natural(kb_num(fit$ci.ub), transform),
    pi_low_natural = kb_natural(kb_num(prediction$pi.lb), transform),
    pi_high_natural = kb_natural(kb_num(prediction$pi.ub), transform),
    tau2 = kb_num(fit$tau2), sigma2 = kb_num(fit$sigma2), i2 = kb_num(fit$I2), h2 = kb_num(fit$H2),
    q = kb_num(qe), q_df = kb_count_q_df(fit, model),
    q_pvalue = kb_num(qep), q_lrt = kb_num(fit$QE.LRT), q_lrt_pvalue = kb_num(fit$QEp.LRT),
    qm = kb_num(fit$QM), qm_df = if (is.null(fit$QMdf)) NA_integer_ else as.integer(fit$QMdf[1L]),
    qm_pvalue = kb_num(fit$QMp),
    cmh = kb_num(fit$MH), cmh_pvalue = kb_num(fit$MHp),
    tarone = kb_num(fit$TA), tarone_df = if (is.na(kb_num(fit$TA))) NA_integer_ else as.integer(fit$k.pos - 1L),
    tarone_pvalue = kb_num(fit$TAp)
  )
}

# Per-study table over the rows passed in: the effect size escalc computed (NA for studies it
# could not, e.g. double-zero tables with drop00), the study's weight in percent, and whether
# the study entered the fit.
kb_count_studies <- function(fit, labels, weights) {
  n <- length(labels)
  full_weights <- rep(NA_real_, n)
  if (!is.null(weights)) full_weights[fit$not.na] <- as.numeric(weights)
  # a study in the fit with weight 0 (a double-zero table under MH's OR) adds nothing to it
  used <- fit$not.na & (is.na(full_weights) | full_weights > 0)
  list(study = labels, yi = as.numeric(fit$yi.f), vi = as.numeric(fit$vi.f), weight = full_weights, used = used)
}

# kb_tidy's table; rma.mh and rma.peto keep beta as a named vector, not a one-column matrix.
kb_count_tidy <- function(fit) {
  terms <- if (is.matrix(fit$beta)) rownames(fit$beta) else names(fit$beta)
  if (is.null(terms)) terms <- "intrcpt"
  list(
    term = terms, estimate = as.numeric(fit$beta), std_error = as.numeric(fit$se),
    statistic = as.numeric(fit$zval), p_value = as.numeric(fit$pval),
    conf_low = as.numeric(fit$ci.lb), conf_high = as.numeric(fit$ci.ub)
  )
}
