# Q-profile confidence intervals for tau^2, tau, I^2 and H^2: metafor::confint.rma.uni.
kb_confint <- function(model, level) {
  kb_guard(kb_call_text("confint", character(), list(level = level), inner = kb_model_call(model)), {
    heterogeneity <- metafor::confint.rma.uni(kb_fit(model), level = level)$random
    list(
      term = c("tau2", "tau", "i2", "h2"),  # metafor's rows: tau^2, tau, I^2(%), H^2
      estimate = as.numeric(heterogeneity[, 1]),
      conf_low = as.numeric(heterogeneity[, 2]), conf_high = as.numeric(heterogeneity[, 3])
    )
  })
}
