# Begg and Mazumdar's rank correlation test for funnel asymmetry: metafor::ranktest.
kb_ranktest <- function(model) {
  kb_guard(kb_call_text("ranktest", character(), list(), inner = kb_model_call(model)), {
    list(glance = kb_ranktest_glance(kb_fit(model)))
  })
}

# The test's glance row for a fitted model (the batch loop reuses its fit).
kb_ranktest_glance <- function(fit) {
  test <- metafor::ranktest(fit)
  list(kendall_tau = kb_num(test$tau), p_value = kb_num(test$pval))
}
