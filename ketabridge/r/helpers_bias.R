# Helpers for the funnel-asymmetry methods on a fitted model: trim-and-fill, Egger's regression
# test and the rank correlation test. Shared by their entry points (kb_trimfill, kb_regtest,
# kb_ranktest), kb_augment, the plots and kb_batch's loop (which reuses each analysis's fit).

kb_trimfill_call <- function(model, side, estimator) {
  options <- c(if (!is.null(side)) list(side = side), list(estimator = estimator))
  kb_call_text("trimfill", character(), options, inner = kb_model_call(model))
}

# fit: pass a model already fitted from `model` to save refitting it (the batch loop does).
kb_trimfill_fit <- function(model, side, estimator, fit = kb_fit(model)) {
  metafor::trimfill(fit, side = side, estimator = estimator)
}

kb_trimfill_glance <- function(filled, estimator) {
  c(kb_glance(filled), list(k0 = as.integer(filled$k0), k0_se = kb_num(filled$se.k0),
                            side = filled$side, estimator = estimator))
}

# Egger's test's glance row for a fitted model.
kb_regtest_glance <- function(fit, regression, predictor) {
  test <- metafor::regtest(fit, model = regression, predictor = predictor)
  list(
    model = regression, predictor = predictor, statistic = kb_num(test$zval),
    df = kb_num(test$dfs), p_value = kb_num(test$pval), limit_estimate = kb_num(test$est),
    limit_conf_low = kb_num(test$ci.lb), limit_conf_high = kb_num(test$ci.ub)
  )
}

# The rank correlation test's glance row for a fitted model.
kb_ranktest_glance <- function(fit) {
  test <- metafor::ranktest(fit)
  list(kendall_tau = kb_num(test$tau), p_value = kb_num(test$pval))
}
