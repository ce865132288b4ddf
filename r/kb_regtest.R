# Egger-type regression test for funnel asymmetry: metafor::regtest.
kb_regtest <- function(model, regression, predictor) {
  options <- list(model = regression, predictor = predictor)
  kb_guard(kb_call_text("regtest", character(), options, inner = kb_model_call(model)), {
    list(glance = kb_regtest_glance(kb_fit(model), regression, predictor))
  })
}

# The test's glance row for a fitted model (the batch loop reuses its fit).
kb_regtest_glance <- function(fit, regression, predictor) {
  test <- metafor::regtest(fit, model = regression, predictor = predictor)
  list(
    model = regression, predictor = predictor, statistic = kb_num(test$zval),
    df = kb_num(test$dfs), p_value = kb_num(test$pval), limit_estimate = kb_num(test$est),
    limit_conf_low = kb_num(test$ci.lb), limit_conf_high = kb_num(test$ci.ub)
  )
}
