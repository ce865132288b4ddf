# Confidence intervals: metafor::confint.rma.uni. random: Q-profile (or `type`'s) intervals for
# tau^2, tau, I^2 and H^2; fixed: the model coefficients' Wald-type intervals (metafor's fixed=TRUE).
# type: NULL (metafor's default, QP), or "QP", "GENQ", "PL" for the heterogeneity intervals.
kb_confint <- function(model, level, fixed = FALSE, random = TRUE, type = NULL) {
  options <- c(list(level = level), if (fixed) list(fixed = TRUE), if (!random) list(random = FALSE),
               if (!is.null(type)) list(type = type))
  kb_guard(kb_call_text("confint", character(), options, inner = kb_model_call(model)), {
    intervals <- do.call(metafor::confint.rma.uni, c(list(kb_fit(model)), options))
    coefficients <- if (fixed) intervals$fixed
    heterogeneity <- if (random) intervals$random
    list(
      # metafor's rows: the coefficients, then tau^2, tau, I^2(%), H^2
      term = c(rownames(coefficients), if (random) c("tau2", "tau", "i2", "h2")),
      estimate = as.numeric(c(coefficients[, 1], heterogeneity[, 1])),
      conf_low = as.numeric(c(coefficients[, 2], heterogeneity[, 2])),
      conf_high = as.numeric(c(coefficients[, 3], heterogeneity[, 3]))
    )
  })
}
