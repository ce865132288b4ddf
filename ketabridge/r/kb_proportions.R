# Proportions side by side: the same events/totals pooled by several (measure, method) pairs,
# each with metafor::escalc, rma.uni and predict.rma back-transformed to the proportion scale.
# approaches: list(measure, method, transform) of parallel character vectors, transform ""
# for none; level in percent.
kb_proportions_call <- function(approach, level, ni) {
  if (identical(approach$method, "GLMM")) {  # the binomial-normal model fits the counts themselves
    model <- kb_call_text("rma.glmm", c(xi = "xi", ni = "ni"), list(measure = approach$measure, level = level))
    return(kb_call_text("predict", character(), list(transf = "transf.ilogit"), inner = model))
  }
  model <- kb_call_text("rma.uni", c(yi = "yi", vi = "vi"), list(method = approach$method, level = level),
                        inner = NULL)
  effects <- kb_call_text("escalc", c(xi = "xi", ni = "ni"), list(measure = approach$measure))
  back <- kb_transf_options(approach$transform, kb_proportion_sizes(approach, ni))
  paste0("dat <- ", effects, "; ", kb_call_text("predict", character(), back, inner = model))
}

# ipft.hm back-transforms with the studies' sample sizes (targs = list(ni = ni), as in ?transf)
kb_proportion_sizes <- function(approach, ni) if (identical(approach$transform, "ipft.hm")) ni

# The binomial-normal (logit, random intercept) GLMM: metafor::rma.glmm(measure = "PLO"), no
# continuity correction. A fit that fails (too few studies, no convergence) leaves its row NA
# with a warning, so the other approaches stand.
kb_proportion_glmm_row <- function(xi, ni, approach, level) {
  empty <- list(k = length(xi), estimate = NA_real_, conf_low = NA_real_, conf_high = NA_real_, pi_low = NA_real_,
                pi_high = NA_real_, tau2 = NA_real_, i2 = NA_real_, q = NA_real_, q_pvalue = NA_real_,
                model_estimate = NA_real_, model_std_error = NA_real_)
  values <- tryCatch({
    fit <- metafor::rma.glmm(measure = approach$measure, xi = xi, ni = ni, level = level)
    pooled <- metafor::predict.rma(fit, transf = metafor::transf.ilogit)
    list(k = fit$k, estimate = kb_num(pooled$pred), conf_low = kb_num(pooled$ci.lb), conf_high = kb_num(pooled$ci.ub),
         pi_low = kb_num(pooled$pi.lb), pi_high = kb_num(pooled$pi.ub), tau2 = kb_num(fit$tau2), i2 = kb_num(fit$I2),
         q = kb_num(fit$QE.Wld), q_pvalue = kb_num(fit$QEp.Wld), model_estimate = kb_num(fit$beta),
         model_std_error = kb_num(fit$se))
  }, error = function(e) {
    warning(sprintf("the GLMM row is not available: rma.glmm stopped: %s", conditionMessage(e)), call. = FALSE)
    empty
  })
  c(list(measure = approach$measure, method = approach$method, transform = approach$transform), values,
    list(corrected = 0L))
}

kb_proportion_row <- function(xi, ni, approach, level) {
  if (identical(approach$method, "GLMM")) return(kb_proportion_glmm_row(xi, ni, approach, level))
  effects <- metafor::escalc(approach$measure, xi = xi, ni = ni)
  fit <- metafor::rma.uni(effects$yi, effects$vi, method = approach$method, level = level)
  back <- kb_transf_args(approach$transform, kb_proportion_sizes(approach, ni))
  pooled <- do.call(metafor::predict.rma, c(list(fit), back))
  # studies escalc's default continuity correction changed: compare with add = 0, no correction
  plain <- suppressWarnings(metafor::escalc(approach$measure, xi = xi, ni = ni, add = 0))
  changed <- effects$yi != plain$yi
  list(
    measure = approach$measure, method = approach$method,
    transform = if (is.null(approach$transform)) NA_character_ else approach$transform,
    k = fit$k, estimate = kb_num(pooled$pred), conf_low = kb_num(pooled$ci.lb), conf_high = kb_num(pooled$ci.ub),
    pi_low = kb_num(pooled$pi.lb), pi_high = kb_num(pooled$pi.ub),
    tau2 = kb_num(fit$tau2), i2 = kb_num(fit$I2), q = kb_num(fit$QE), q_pvalue = kb_num(fit$QEp),
    model_estimate = kb_num(fit$beta), model_std_error = kb_num(fit$se),
    corrected = sum(is.na(changed) | changed)
  )
}

kb_proportions <- function(xi, ni, approaches, level) {
  approaches <- lapply(seq_along(approaches$measure), function(i) {
    list(measure = approaches$measure[i], method = approaches$method[i],
         transform = if (nzchar(approaches$transform[i])) approaches$transform[i])
  })
  call_text <- paste(vapply(approaches, kb_proportions_call, "", level = level, ni = ni), collapse = "\n")
  kb_guard(call_text, {
    rows <- lapply(approaches, kb_proportion_row, xi = xi, ni = ni, level = level)
    # one list of columns, one element per approach
    setNames(lapply(names(rows[[1L]]), function(column) unlist(lapply(rows, `[[`, column))), names(rows[[1L]]))
  })
}
