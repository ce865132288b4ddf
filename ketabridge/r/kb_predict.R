# Pooled (or fitted) effects with confidence and prediction intervals: metafor::predict.rma.
# transform is a name from ketabridge/analyses/transforms.py (or NULL); ni feeds transf.ipft.hm.

# The kind of prediction interval: metafor 5.0 renamed predict.rma's `pi.type` to `predtype`;
# earlier releases read `pi.type` from `...` (5.x still accepts it, so this is for the call text).
kb_interval_args <- function(predtype, adjust) {
  kind <- if (is.null(predtype)) list()
          else if (utils::packageVersion("metafor") >= "5.0") list(predtype = predtype)
          else list(pi.type = predtype)
  c(kind, if (isTRUE(adjust)) list(adjust = TRUE))
}

# newmods: NULL, or new moderator values (see helpers_newmods.R), shown as `newmods = X` in the call.
kb_predict <- function(model, level, transform = NULL, ni = NULL, predtype = NULL, adjust = FALSE, newmods = NULL) {
  interval <- kb_interval_args(predtype, adjust)
  options <- c(if (!is.null(newmods)) list(newmods = quote(X)), list(level = level), interval,
               kb_transf_options(transform, ni))
  kb_guard(kb_call_text("predict", character(), options, inner = kb_fitted_call(model)), {
    fit <- kb_fitted(model)
    new <- if (is.null(newmods)) list() else list(newmods = kb_newmods(model, fit, newmods))
    pred <- do.call(metafor::predict.rma, c(list(fit), new, list(level = level), interval,
                                            kb_transf_args(transform, ni)))
    n <- length(pred$pred)
    list(
      estimate = as.numeric(pred$pred), std_error = kb_column(pred$se, n),
      conf_low = kb_column(pred$ci.lb, n), conf_high = kb_column(pred$ci.ub, n),
      pi_low = kb_column(pred$pi.lb, n), pi_high = kb_column(pred$pi.ub, n)
    )
  })
}
