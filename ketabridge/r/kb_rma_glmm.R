# Generalized linear mixed models for counts: metafor::rma.glmm. counts: named list of per-study
# vectors; mods: named list of moderator columns (a matrix in R) or NULL; options: model, method,
# test, level, nAGQ, control (named list), add, to, drop00; labels: study labels; shown:
# the user's column of each count argument, for the call text; transform: the
# natural-scale back-transform ("exp", "ilogit" or "").
kb_rma_glmm <- function(counts, measure, mods, options, labels, transform, shown) {
  columns <- unlist(shown)
  if (length(mods)) {
    columns <- c(columns, mods = paste0("cbind(", paste(vapply(names(mods), kb_backquote, ""), collapse = ", "), ")"))
  }
  call_text <- kb_call_text("rma.glmm", columns, c(list(measure = measure), options))
  kb_guard(call_text, {
    args <- c(list(measure = measure), counts, options, list(slab = labels))
    if (length(mods)) args$mods <- do.call(cbind, mods)
    fit <- do.call("rma.glmm", args, envir = asNamespace("metafor"))
    list(glance = kb_count_glance(fit, fit$model, transform), tidy = kb_count_tidy(fit),
         augment = kb_count_studies(fit, labels, NULL))
  })
}
