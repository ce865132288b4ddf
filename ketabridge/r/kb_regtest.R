# Egger-type regression test for funnel asymmetry: metafor::regtest.
kb_regtest <- function(model, regression, predictor) {
  options <- list(model = regression, predictor = predictor)
  kb_guard(kb_call_text("regtest", character(), options, inner = kb_model_call(model)), {
    list(glance = kb_regtest_glance(kb_fit(model), regression, predictor))
  })
}
