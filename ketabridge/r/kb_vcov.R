# Variance-covariance matrix of the model coefficients: metafor's vcov.rma (column-major values).
kb_vcov <- function(model) {
  kb_guard(kb_call_text("vcov", character(), inner = kb_fitted_call(model)), {
    matrix <- stats::vcov(kb_fitted(model))
    list(term = rownames(matrix), values = as.numeric(matrix))
  })
}
