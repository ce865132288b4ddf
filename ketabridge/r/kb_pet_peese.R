# PET-PEESE (Stanley & Doucouliagos 2014) as metafor's ?regtest describes it: the limit estimates of
# regtest() with the standard errors (PET) and the sampling variances (PEESE) as predictors, and
# the conditional estimate: PEESE's when PET's test of its limit estimate (H0: effect = 0) rejects
# at alpha, else PET's. regression: "lm" (the classical weighted regression) or "rma".
kb_pet_peese_limit <- function(fit, regression, predictor) {
  test <- metafor::regtest(fit, model = regression, predictor = predictor)
  # the test of the limit estimate is the test of the intercept of regtest's underlying model
  intercept <- if (inherits(test$fit, "lm")) {
    summary(test$fit)$coefficients[1L, 3:4]
  } else c(kb_num(test$fit$zval), kb_num(test$fit$pval))
  list(estimate = kb_num(test$est), conf_low = kb_num(test$ci.lb), conf_high = kb_num(test$ci.ub),
       statistic = as.numeric(intercept[[1L]]), p_value = as.numeric(intercept[[2L]]))
}

kb_pet_peese <- function(model, regression, alpha) {
  calls <- vapply(c("sei", "vi"), function(predictor) {
    kb_call_text("regtest", character(), list(model = regression, predictor = predictor), inner = kb_model_call(model))
  }, character(1))
  kb_guard(paste(calls, collapse = "; "), {
    fit <- kb_fit(model)
    pet <- kb_pet_peese_limit(fit, regression, "sei")
    peese <- kb_pet_peese_limit(fit, regression, "vi")
    chosen <- if (!is.na(pet$p_value) && pet$p_value < alpha) "PEESE" else "PET"
    use <- if (chosen == "PEESE") peese else pet
    list(glance = c(
      list(model = regression, alpha = alpha),
      setNames(pet, paste0("pet_", names(pet))), setNames(peese, paste0("peese_", names(peese))),
      list(chosen = chosen, estimate = use$estimate, conf_low = use$conf_low, conf_high = use$conf_high)
    ))
  })
}
