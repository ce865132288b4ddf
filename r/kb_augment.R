# Per-study diagnostics of a model (or of its trim-and-fill version when estimator is given).
kb_augment <- function(model, side = NULL, estimator = NULL) {
  trimmed <- !is.null(estimator)
  call_text <- if (trimmed) kb_trimfill_call(model, side, estimator) else kb_model_call(model)
  kb_guard(call_text, {
    fit <- if (trimmed) kb_trimfill_fit(model, side, estimator) else kb_fit(model)
    augment <- kb_study_table(fit, model$slab)
    if (trimmed) augment$filled <- as.logical(fit$fill)
    augment
  })
}
