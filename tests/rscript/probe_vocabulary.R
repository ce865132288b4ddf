# Which candidate names the running metafor accepts, by calling it: a name is refused when the
# call stops with metafor's "Unknown ..." / "Invalid option ..." / match.arg error for that
# argument. Reads candidate lines "kind<TAB>a,b,c" on stdin; prints "kind<TAB>accepted,names".
library(metafor)
yi <- c(0.1, 0.5, 0.3, 0.8, -0.2); vi <- c(0.1, 0.2, 0.1, 0.3, 0.2)
refused <- function(expr, pattern) {
  message <- tryCatch({ suppressWarnings(expr); "" }, error = function(e) conditionMessage(e))
  grepl(pattern, message)
}
probes <- list(
  method = function(x) refused(rma.uni(yi, vi, method = x), "Unknown 'method'"),
  test = function(x) refused(rma.uni(yi, vi, test = x), "'test' argument"),
  measure = function(x) refused(escalc(measure = x, yi = yi, vi = vi), "Unknown 'measure'"),
  trimfill_estimator = function(x) refused(trimfill(rma.uni(yi, vi), estimator = x), "should be one of"),
  trimfill_side = function(x) refused(trimfill(rma.uni(yi, vi), side = x), "should be one of"),
  regtest_model = function(x) refused(regtest(rma.uni(yi, vi), model = x), "should be one of"),
  regtest_predictor = function(x) refused(regtest(rma.uni(yi, vi), predictor = x), "should be one of")
)
for (line in readLines(file("stdin"))) {
  parts <- strsplit(line, "\t", fixed = TRUE)[[1]]
  candidates <- strsplit(parts[2], ",", fixed = TRUE)[[1]]
  ok <- candidates[!vapply(candidates, probes[[parts[1]]], logical(1))]
  cat(parts[1], "\t", paste(ok, collapse = ","), "\n", sep = "")
}
