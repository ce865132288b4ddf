# Effect sizes: metafor::escalc. columns: named list of per-study vectors (metafor's argument
# names); options: add, to, vtype.
kb_escalc <- function(measure, columns, options) {
  call_text <- kb_call_text("escalc", setNames(names(columns), names(columns)), c(list(measure = measure), options))
  kb_guard(call_text, {
    effects <- do.call(metafor::escalc, c(list(measure = measure), columns, options))
    sizes <- attr(effects$yi, "ni")
    list(
      yi = as.numeric(effects$yi), vi = as.numeric(effects$vi),
      ni = if (is.null(sizes)) rep(NA_real_, nrow(effects)) else as.numeric(sizes)
    )
  })
}
