# Log-likelihood, deviance, AIC, BIC and AICc of the fitted model: metafor::fitstats (the ML or
# REML versions, as the model was fitted; metafor's choice for other estimators).
kb_fitstats <- function(model) {
  kb_guard(kb_call_text("fitstats", character(), inner = kb_fitted_call(model)), {
    stats <- metafor::fitstats(kb_fitted(model))
    list(
      likelihood = colnames(stats)[1L], loglik = stats[1L, 1L], deviance = stats[2L, 1L],
      aic = stats[3L, 1L], bic = stats[4L, 1L], aicc = stats[5L, 1L]
    )
  })
}
