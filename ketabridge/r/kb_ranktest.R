# Begg and Mazumdar's rank correlation test for funnel asymmetry: metafor::ranktest.
kb_ranktest <- function(model) {
  kb_guard(kb_call_text("ranktest", character(), list(), inner = kb_model_call(model)), {
    list(glance = kb_ranktest_glance(kb_fit(model)))
  })
}
