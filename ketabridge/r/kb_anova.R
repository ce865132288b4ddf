# Model comparison: metafor::anova.rma. Without `reduced`, the Wald test of the coefficients btt
# (1-based indices; Python resolves term names, so every metafor release gets numbers); with
# it, the likelihood-ratio test of `model` (the full model) against `reduced`.
kb_anova <- function(model, btt = NULL, reduced = NULL) {
  if (!is.null(reduced)) return(kb_lrt(model, reduced))
  options <- if (is.null(btt)) list() else list(btt = as.integer(btt))
  kb_guard(kb_call_text("anova", character(), options, inner = kb_fitted_call(model)), {
    fit <- kb_fitted(model)
    wald <- do.call(metafor::anova.rma, c(list(fit), options))
    list(
      coefficients = paste(wald$btt, collapse = ","),
      terms = paste(rownames(fit$beta)[wald$btt], collapse = ","),
      qm = kb_num(wald$QM), qm_df = as.integer(wald$QMdf[1L]),
      qm_df_denominator = as.numeric(wald$QMdf[2L]),  # NA under z tests: a chi-square test
      qm_pvalue = kb_num(wald$QMp)
    )
  })
}

kb_lrt <- function(full, reduced) {
  call_text <- paste0("anova(", kb_fitted_call(full), ", ", kb_fitted_call(reduced), ")")
  kb_guard(call_text, {
    lrt <- metafor::anova.rma(kb_fitted(full), kb_fitted(reduced))
    stats <- rbind(lrt$fit.stats.f, lrt$fit.stats.r)  # ll, dev, AIC, BIC, AICc
    list(
      model = c("full", "reduced"), df = as.integer(c(lrt$parms.f, lrt$parms.r)),
      loglik = as.numeric(stats[, 1L]), deviance = as.numeric(stats[, 2L]), aic = as.numeric(stats[, 3L]),
      bic = as.numeric(stats[, 4L]), aicc = as.numeric(stats[, 5L]),
      lrt = c(NA_real_, kb_num(lrt$LRT)), p_value = c(NA_real_, kb_num(lrt$pval)),
      qe = c(kb_num(lrt$QE.f), kb_num(lrt$QE.r)), tau2 = c(kb_num(lrt$tau2.f), kb_num(lrt$tau2.r)),
      r2 = c(NA_real_, kb_num(lrt$R2))  # NULL in metafor when the reduced model has no tau^2
    )
  })
}
