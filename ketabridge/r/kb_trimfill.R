# Trim-and-fill: metafor::trimfill on the model described by `model`.
kb_trimfill <- function(model, side, estimator) {
  kb_guard(kb_trimfill_call(model, side, estimator), {
    filled <- kb_trimfill_fit(model, side, estimator)
    list(glance = kb_trimfill_glance(filled, estimator), tidy = kb_tidy(filled))
  })
}
