# Test of excess significance (Ioannidis & Trikalinos 2007): metafor::tes, on a fitted model
# (model given: theta and tau^2 are the model's) or on plain yi and vi vectors (model NULL: theta
# is the equal-effects estimate). options: H0, alternative, alpha, theta, tau2, test,
# tes.alternative, tes.alpha (absent ones left to metafor's defaults).
kb_tes <- function(model, yi, vi, options) {
  call_text <- if (is.null(model)) kb_call_text("tes", c(x = "yi", vi = "vi"), options)
               else kb_call_text("tes", character(), options, inner = kb_model_call(model))
  kb_guard(call_text, {
    # by position: tes's first argument is `x` (estimates or a model object)
    found <- if (is.null(model)) {
      do.call(metafor::tes, c(list(yi, vi = vi, progbar = FALSE), options))
    } else do.call(metafor::tes, c(list(kb_fit(model), progbar = FALSE), options))
    list(glance = list(
      k = as.integer(found$k), observed = as.integer(found$O), expected = kb_num(found$E),
      ratio = kb_num(found$OEratio), test = found$test,
      statistic = kb_num(found$X2), p_value = kb_num(found$pval), theta = kb_num(found$theta),
      tau2 = kb_num(found$tau2), theta_limit = kb_num(found$theta.lim)
    ))
  })
}
