# Trim-and-fill: metafor::trimfill on the model described by `model`.
kb_trimfill <- function(model, side, estimator) {
  options <- c(if (!is.null(side)) list(side = side), list(estimator = estimator))
  kb_guard(kb_call_text("trimfill", character(), options, inner = kb_model_call(model)), {
    filled <- metafor::trimfill(kb_fit(model), side = side, estimator = estimator)
    augment <- kb_augment(filled, model$slab)
    augment$filled <- as.logical(filled$fill)
    list(
      glance = c(kb_glance(filled), list(k0 = as.integer(filled$k0), k0_se = kb_num(filled$se.k0),
                                         side = filled$side, estimator = estimator)),
      tidy = kb_tidy(filled), augment = augment
    )
  })
}
