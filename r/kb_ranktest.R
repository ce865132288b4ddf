# Begg and Mazumdar's rank correlation test for funnel asymmetry: metafor::ranktest.
kb_ranktest <- function(model) {
  kb_guard(kb_call_text("ranktest", character(), list(), inner = kb_model_call(model)), {
    test <- metafor::ranktest(kb_fit(model))
    list(glance = list(kendall_tau = kb_num(test$tau), p_value = kb_num(test$pval)))
  })
}
