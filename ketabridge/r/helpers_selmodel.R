# Helpers for selection models (kb_selmodel and kb_selmodel_plot): the call as text and the fit.
# selection: list(type, alternative, steps (NULL or numeric), prec (NULL or name), control (named list),
# delta (NULL or numeric, NA = estimate), decreasing (TRUE or absent: metafor >= 4.6), subset (NULL or
# one logical per study: metafor >= 4.8)). Each crosses as data and is passed only when given.

kb_selmodel_options <- function(selection) {
  c(list(type = selection$type, alternative = selection$alternative),
    if (!is.null(selection$steps)) list(steps = selection$steps),
    if (!is.null(selection$prec)) list(prec = selection$prec),
    if (!is.null(selection$subset)) list(subset = as.logical(selection$subset)),
    if (!is.null(selection$delta)) list(delta = as.numeric(selection$delta)),
    if (isTRUE(selection$decreasing)) list(decreasing = TRUE),
    if (length(selection$control)) list(control = selection$control))
}

kb_selmodel_call <- function(model, selection) {
  kb_call_text("selmodel", character(), kb_selmodel_options(selection), inner = kb_model_call(model))
}

kb_selmodel_fit <- function(model, selection) {
  args <- c(list(kb_fit(model)), kb_selmodel_options(selection))
  do.call("selmodel", args, envir = asNamespace("metafor"))  # by name, so errors name selmodel
}
