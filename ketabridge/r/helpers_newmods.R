# New moderator values for predict(newmods=). newmods: list(kind = "data", columns = named list)
# for a formula model, whose model matrix is built here from the fitted formula's own terms
# (factor levels, scale() centring and poly() coefficients of the data it was fitted to); or
# list(kind = "matrix", columns = list of numeric vectors), one per coefficient after the
# intercept, in order. The result has no column names: metafor matches named columns to
# coefficients by approximate string distance, so they go by position.
kb_newmods <- function(model, fit, newmods) {
  if (identical(newmods$kind, "data")) {
    fitted_columns <- if (!is.null(model$random)) model$columns else model$mods  # rma.mv: its formulas' columns
    formula <- kb_formula(model$formula, names(fitted_columns))
    fitted_frame <- stats::model.frame(formula, data = kb_formula_data(fitted_columns))
    terms <- attr(fitted_frame, "terms")  # carries predvars: scale() and poly() as fitted
    new_frame <- stats::model.frame(terms, data = kb_formula_data(newmods$columns),
                                    xlev = stats::.getXlevels(terms, fitted_frame))
    contrasts <- attr(stats::model.matrix(terms, fitted_frame), "contrasts")
    X <- stats::model.matrix(terms, new_frame, contrasts.arg = contrasts)
    names <- sub("^\\(Intercept\\)$", "intrcpt", colnames(X))
    if (!identical(names, colnames(fit$X)))
      stop("the new moderator values give the columns ", paste(names, collapse = ", "),
           " but the model has ", paste(colnames(fit$X), collapse = ", "), call. = FALSE)
    if (fit$int.incl) X <- X[, -1L, drop = FALSE]
  } else {
    X <- do.call(cbind, newmods$columns)
  }
  unname(X)
}
