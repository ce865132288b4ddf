# Independent reference runner for ketabridge's count-model property test (test_count_models.py).
#
# Written from metafor's documented rma.mh() and rma.peto() interfaces (columns named through
# `data =`); it does NOT source or mimic ketabridge's ketabridge/r/*.R files. Its own process:
#
#   Rscript tests/rscript/direct_counts.R in.csv out.csv
#
# in.csv   long table: id, ai, bi, ci, di (2x2 counts) and x1i, t1i, x2i, t2i (events and
#          person-time); integers. One fit per id and call.
# out.csv  id, call (MH-OR, MH-RR, MH-RD, MH-IRR, MH-IRD, PETO), ok, error, and the numbers
#          estimate, se, ci_lb, ci_ub, q, cmh, tarone (NA where none) as C99 hex floats.

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2L) stop("usage: direct_counts.R in.csv out.csv")
hex <- function(x) if (is.null(x) || !length(x) || is.na(x[1])) "NA" else sprintf("%a", as.numeric(x[1]))

raw <- read.csv(args[[1L]], stringsAsFactors = FALSE)
fits <- list(
  "MH-OR" = function(d) rma.mh(measure = "OR", ai = ai, bi = bi, ci = ci, di = di, data = d),
  "MH-RR" = function(d) rma.mh(measure = "RR", ai = ai, bi = bi, ci = ci, di = di, data = d),
  "MH-RD" = function(d) rma.mh(measure = "RD", ai = ai, bi = bi, ci = ci, di = di, data = d),
  "MH-IRR" = function(d) rma.mh(measure = "IRR", x1i = x1i, x2i = x2i, t1i = t1i, t2i = t2i, data = d),
  "MH-IRD" = function(d) rma.mh(measure = "IRD", x1i = x1i, x2i = x2i, t1i = t1i, t2i = t2i, data = d),
  "PETO" = function(d) rma.peto(ai = ai, bi = bi, ci = ci, di = di, data = d)
)
rows <- list()
for (id in unique(raw$id)) {
  d <- raw[raw$id == id, ]
  for (call in names(fits)) {
    fit <- tryCatch(suppressWarnings(fits[[call]](d)), error = function(e) e)
    rows[[length(rows) + 1L]] <- if (inherits(fit, "error")) {
      data.frame(id = id, call = call, ok = FALSE, error = conditionMessage(fit), estimate = "NA", se = "NA",
                 ci_lb = "NA", ci_ub = "NA", q = "NA", cmh = "NA", tarone = "NA")
    } else {
      data.frame(id = id, call = call, ok = TRUE, error = "", estimate = hex(fit$beta), se = hex(fit$se),
                 ci_lb = hex(fit$ci.lb), ci_ub = hex(fit$ci.ub), q = hex(fit$QE), cmh = hex(fit$MH),
                 tarone = hex(fit$TA))
    }
  }
}
write.csv(do.call(rbind, rows), args[[2L]], row.names = FALSE)
