# Outlier and influence diagnostics: metafor::influence.rma.uni, one row per study.
kb_influence <- function(model) {
  kb_guard(kb_call_text("influence", character(), inner = kb_model_call(model)), {
    fit <- kb_fit(model)
    diagnostics <- metafor::influence.rma.uni(fit)$inf
    list(
      study = kb_case_labels(model, fit$k),
      rstudent = as.numeric(diagnostics$rstudent), dffits = as.numeric(diagnostics$dffits),
      cooks_distance = as.numeric(diagnostics$cook.d), cov_ratio = as.numeric(diagnostics$cov.r),
      tau2_deleted = as.numeric(diagnostics$tau2.del), q_deleted = as.numeric(diagnostics$QE.del),
      hat = as.numeric(diagnostics$hat), weight = as.numeric(diagnostics$weight),
      influential = diagnostics$inf == "*"  # metafor marks influential studies with "*"
    )
  })
}
