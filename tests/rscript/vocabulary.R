# The vocabularies the running metafor accepts, read from its own argument checks: every list
# sits in a function body as a literal c("...") inside is.element(arg, ...), match.arg(arg, ...)
# or %in%; the first such check of an argument is its allow-list (later ones are branch subsets).
# Nothing is evaluated but the literals. Prints one line per vocabulary: name<TAB>a,b,c
allowed <- function(fun, arg) {
  found <- list(); assigned <- list()
  literal <- function(e) {
    if (is.call(e) && identical(e[[1L]], as.name("c"))) {
      parts <- as.list(e)[-1L]
      if (length(parts) && all(vapply(parts, is.character, logical(1)))) return(unlist(parts, use.names = FALSE))
    }
    if (is.name(e)) return(assigned[[as.character(e)]])
    NULL
  }
  is_arg <- function(e) {
    if (is.name(e)) return(identical(as.character(e), arg))
    is.call(e) && (identical(e[[1L]], as.name("[")) || identical(e[[1L]], as.name("tolower"))) && is_arg(e[[2L]])
  }
  walk <- function(e) {
    if (!is.call(e)) return(invisible())
    head <- e[[1L]]
    if ((identical(head, as.name("<-")) || identical(head, as.name("="))) && is.name(e[[2L]])) {
      v <- literal(e[[3L]]); if (!is.null(v)) assigned[[as.character(e[[2L]])]] <<- v
    }
    if (length(e) >= 3L && any(vapply(c("is.element", "match.arg", "%in%"),
                                      function(h) identical(head, as.name(h)), logical(1))) && is_arg(e[[2L]])) {
      v <- literal(e[[3L]]); if (!is.null(v)) found[[length(found) + 1L]] <<- v
    }
    for (i in seq_along(e)[-1L]) { sub <- e[[i]]; if (!missing(sub) && !is.null(sub)) walk(sub) }
  }
  walk(body(fun))
  if (length(found)) found[[1L]] else character()
}
ns <- asNamespace("metafor")
lists <- list(
  method = allowed(get("rma.uni", ns), "method"),
  test = allowed(get("rma.uni", ns), "test"),
  measure = setdiff(allowed(get("escalc", ns), "measure"), "GEN"),
  vtype = allowed(get("escalc", ns), "vtype"),
  trimfill_estimator = allowed(get("trimfill.rma.uni", ns), "estimator"),
  trimfill_side = allowed(get("trimfill.rma.uni", ns), "side"),
  regtest_model = allowed(get("regtest", ns), "model"),
  regtest_predictor = allowed(get("regtest", ns), "predictor")
)
for (name in names(lists)) cat(name, "\t", paste(lists[[name]], collapse = ","), "\n", sep = "")
