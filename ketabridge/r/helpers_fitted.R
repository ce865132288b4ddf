# The fitted model behind a follow-up analysis (anova, fitstats, vcov, blup, ranef, profile,
# regplot, predict(newmods=)). model$kind names the metafor function that fits it, so these
# entry points stay generic over the model: "rma" is rma.uni (kb_fit), "rma_mv" is rma.mv
# (kb_mv_fit, helpers_mv.R); a new kind adds its fitter and call text here.
kb_fitted <- function(model) {
  kind <- if (is.null(model$kind)) "rma" else model$kind
  model$kind <- NULL
  switch(kind,
    rma = kb_fit(model),
    rma_mv = kb_mv_fit(model),
    stop(sprintf("unknown model kind '%s'", kind), call. = FALSE)
  )
}

kb_fitted_call <- function(model) {
  kind <- if (is.null(model$kind)) "rma" else model$kind
  model$kind <- NULL
  switch(kind,
    rma = kb_model_call(model),
    rma_mv = kb_mv_call_text(model),
    stop(sprintf("unknown model kind '%s'", kind), call. = FALSE)
  )
}
