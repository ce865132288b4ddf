# Independent reference runner for ketabridge's sensitivity property tests.
#
# Written from metafor's documented API (rma.uni, predict.rma, leave1out.rma.uni,
# influence.rma.uni, cumul.rma.uni); it does NOT source or mimic ketabridge's ketabridge/r/*.R files.
#
#   Rscript tests/rscript/sensitivity_direct.R in.csv settings.csv status.csv long.csv
#
# in.csv        id, yi, vi, year (cumul order); numbers decimal or C99 hex floats
# settings.csv  method, test, level (one row per model)
# status.csv    one row per id x setting x analysis: ok, error (fit, predict, predict_exp,
#               leave1out, influence, cumul)
# long.csv      id, setting, table, row, name, value (C99 hex floats; NA for missing)

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 4L) stop("usage: sensitivity_direct.R in.csv settings.csv status.csv long.csv")

hex <- function(x) ifelse(is.na(x), "NA", sprintf("%a", as.numeric(x)))
raw <- read.csv(args[[1L]], colClasses = "character", stringsAsFactors = FALSE)
for (column in c("yi", "vi", "year")) raw[[column]] <- as.numeric(raw[[column]])
settings <- read.csv(args[[2L]], stringsAsFactors = FALSE)

status <- list()
long <- list()
record <- function(id, setting, analysis, outcome) {
  failed <- inherits(outcome, "error")
  status[[length(status) + 1L]] <<- data.frame(
    id = id, setting = setting, analysis = analysis, ok = !failed,
    error = if (failed) gsub("\\s+", " ", conditionMessage(outcome)) else "", stringsAsFactors = FALSE)
  if (failed || analysis == "fit") return(invisible())
  for (name in names(outcome)) {
    values <- outcome[[name]]
    long[[length(long) + 1L]] <<- data.frame(
      id = id, setting = setting, table = analysis, row = seq_along(values) - 1L, name = name,
      value = hex(values), stringsAsFactors = FALSE)
  }
}
attempt <- function(expr) tryCatch(suppressWarnings(expr), error = function(e) e)
numbers <- function(x, names) {
  if (is.null(x$zval) && !is.null(x$tval)) x$zval <- x$tval  # leave1out/cumul name it tval under t tests
  lapply(setNames(names, names), function(n) if (is.null(x[[n]])) NA_real_ else as.numeric(x[[n]]))
}

for (id in unique(raw$id)) {
  d <- raw[raw$id == id, , drop = FALSE]
  for (s in seq_len(nrow(settings))) {
    method <- settings$method[[s]]; test <- settings$test[[s]]; level <- settings$level[[s]]
    fit <- attempt(rma.uni(yi, vi, data = d, method = method, test = test, level = level))
    record(id, s, "fit", fit)
    if (inherits(fit, "error")) next
    record(id, s, "predict", attempt(numbers(predict(fit, level = level), c("pred", "se", "ci.lb", "ci.ub", "pi.lb", "pi.ub"))))
    record(id, s, "predict_exp", attempt(numbers(predict(fit, transf = exp), c("pred", "ci.lb", "ci.ub", "pi.lb", "pi.ub"))))
    record(id, s, "leave1out", attempt(numbers(leave1out(fit), c("estimate", "se", "zval", "pval", "ci.lb", "ci.ub", "Q", "Qp", "tau2", "I2", "H2"))))
    record(id, s, "influence", attempt({
      inf <- influence(fit)$inf
      c(numbers(inf, c("rstudent", "dffits", "cook.d", "cov.r", "tau2.del", "QE.del", "hat", "weight")),
        list(inf = as.numeric(inf$inf == "*")))
    }))
    record(id, s, "cumul", attempt({
      steps <- cumul(fit, order = d$year)
      c(numbers(steps, c("estimate", "se", "zval", "ci.lb", "ci.ub", "Q", "tau2", "I2", "H2")), list(ids = as.numeric(steps$ids)))
    }))
  }
}
write.csv(do.call(rbind, status), args[[3L]], row.names = FALSE)
write.csv(if (length(long)) do.call(rbind, long) else
  data.frame(id = character(), setting = integer(), table = character(), row = integer(), name = character(), value = character()),
  args[[4L]], row.names = FALSE)
