# Trim-and-fill: metafor::trimfill on the model described by `model`.
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

kb_trimfill <- function(model, side, estimator) {
  kb_guard(kb_trimfill_call(model, side, estimator), {
    filled <- kb_trimfill_fit(model, side, estimator)
    list(glance = kb_trimfill_glance(filled, estimator), tidy = kb_tidy(filled))
  })
}
