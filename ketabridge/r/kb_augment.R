# Per-study diagnostics of a model (or of its trim-and-fill version when estimator is given), with
# each study's yi and interval on the measure's natural scale (transform, and ni for ipft.hm).
kb_augment <- function(model, side = NULL, estimator = NULL, transform = NULL, ni = NULL) {
  trimmed <- !is.null(estimator)
  call_text <- if (trimmed) kb_trimfill_call(model, side, estimator) else kb_model_call(model)
  natural_options <- c(list(level = model$level), kb_transf_options(transform, ni))
  call_text <- paste0(call_text, "; ", kb_call_text("summary.escalc", c(yi = "yi", vi = "vi"), natural_options))
  kb_guard(call_text, {
    fit <- if (trimmed) kb_trimfill_fit(model, side, estimator) else kb_fit(model)
    augment <- kb_study_table(fit, model$slab)
    if (trimmed) augment$filled <- as.logical(fit$fill)
    c(augment, kb_augment_natural(augment$yi, augment$vi, model$level, transform, ni))
  })
}

# Study values and their normal-theory intervals on the measure's natural scale: metafor's
# summary.escalc, as forest() draws them. PFT studies use their own n (transf.ipft), which inverts
# each study's own transform exactly; rows without an n (filled studies) use the harmonic mean,
# as transf.ipft.hm does for pooled values.
kb_augment_natural <- function(yi, vi, level, transform = NULL, ni = NULL) {
  studies <- metafor::escalc(measure = "GEN", yi = yi, vi = vi)
  natural <- do.call(summary, c(list(studies, level = level), kb_study_transf_args(transform, ni, length(yi))))
  list(yi_natural = as.numeric(natural$yi), ci_low_natural = as.numeric(natural$ci.lb),
       ci_high_natural = as.numeric(natural$ci.ub))
}

kb_study_transf_args <- function(transform, ni, k) {
  if (is.null(transform)) return(list())
  if (transform != "ipft.hm") return(list(transf = kb_transform(transform)))
  list(transf = metafor::transf.ipft, ni = c(ni, rep(1 / mean(1 / ni), k - length(ni))))
}
