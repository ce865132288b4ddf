# Best linear unbiased predictions: metafor::blup (fitted value plus predicted random effect of
# each study) or metafor::ranef (the predicted random effect alone), with prediction intervals.
kb_blup <- function(model, which, level) {
  fun <- switch(which, blup = metafor::blup, ranef = metafor::ranef, stop("unknown prediction", call. = FALSE))
  kb_guard(kb_call_text(which, character(), list(level = level), inner = kb_fitted_call(model)), {
    fit <- kb_fitted(model)
    predicted <- fun(fit, level = level)
    list(
      study = kb_case_labels(model, fit$k), estimate = as.numeric(predicted$pred),
      std_error = as.numeric(predicted$se),
      pi_low = as.numeric(predicted$pi.lb), pi_high = as.numeric(predicted$pi.ub)
    )
  })
}
