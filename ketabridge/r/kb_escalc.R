# Effect sizes: metafor::escalc. columns: named list of per-study vectors (metafor's argument
# names); options: add, to, vtype; assumed: per-study inputs given as one value for every row
# (ri, the assumed pre-post correlation), shown by value in the call.
kb_escalc <- function(measure, columns, options, assumed = list()) {
  call_text <- kb_call_text("escalc", setNames(names(columns), names(columns)),
                            c(list(measure = measure), assumed, options))
  kb_guard(call_text, {
    rows <- length(columns[[1L]])
    # metafor checks that all data vectors have the same length, so the value is repeated
    repeated <- lapply(assumed, function(value) rep(value, rows))
    effects <- do.call(metafor::escalc, c(list(measure = measure), columns, repeated, options))
    sizes <- attr(effects$yi, "ni")
    list(
      yi = as.numeric(effects$yi), vi = as.numeric(effects$vi),
      ni = if (is.null(sizes)) rep(NA_real_, nrow(effects)) else as.numeric(sizes)
    )
  })
}
