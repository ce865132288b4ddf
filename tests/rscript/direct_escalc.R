# Independent reference runner for ketabridge's escalc property test.
#
# Written from metafor's documented escalc() interface (columns named through `data =`); it
# does NOT source or mimic ketabridge's ketabridge/r/*.R files. It runs as its own process:
#
#   Rscript tests/rscript/direct_escalc.R in.csv out.csv
#
# in.csv   long table: id, measure, and the study columns the measure's family needs
#            2x2 tables     (RR, OR, RD, PETO, ...):  ai, bi, ci, di
#            proportions    (PR, PLN, PLO, PAS, PFT): xi, ni
#            two groups     (MD, SMD, SMDH, ROM):     m1i, sd1i, n1i, m2i, sd2i, n2i
#            change scores  (MC, SMCC, ROMC):          m1i, m2i, sd1i, sd2i, ni, ri
#            raw-score SD   (SMCR, SMCRH):             m1i, m2i, sd1i, ni, ri
#          Numbers may be decimal or C99 hex floats. One escalc() call per id.
# out.csv  id, row, ok, error, yi, vi, ni (attr(yi, "ni")); numbers as C99 hex floats.

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 2L) stop("usage: direct_escalc.R in.csv out.csv")

hex <- function(x) sprintf("%a", as.numeric(x))
numeric_columns <- c("ai", "bi", "ci", "di", "xi", "ni", "m1i", "m2i", "sd1i", "sd2i", "n1i", "n2i", "ri")

raw <- read.csv(args[[1L]], colClasses = "character", stringsAsFactors = FALSE)
for (column in intersect(numeric_columns, names(raw))) raw[[column]] <- as.numeric(raw[[column]])

compute <- function(measure, d) {
  if (measure %in% c("RR", "OR", "RD", "PETO", "AS", "PHI", "YUQ", "YUY")) {
    escalc(measure, ai = ai, bi = bi, ci = ci, di = di, data = d)
  } else if (measure %in% c("PR", "PLN", "PLO", "PAS", "PFT")) {
    escalc(measure, xi = xi, ni = ni, data = d)
  } else if (measure %in% c("MD", "SMD", "SMDH", "ROM")) {
    escalc(measure, m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = d)
  } else if (measure %in% c("MC", "SMCC", "ROMC")) {
    escalc(measure, m1i = m1i, m2i = m2i, sd1i = sd1i, sd2i = sd2i, ni = ni, ri = ri, data = d)
  } else if (measure %in% c("SMCR", "SMCRH")) {
    escalc(measure, m1i = m1i, m2i = m2i, sd1i = sd1i, ni = ni, ri = ri, data = d)
  } else {
    stop("direct_escalc.R does not know the columns of measure ", measure)
  }
}

pieces <- list()
for (id in unique(raw$id)) {
  d <- raw[raw$id == id, , drop = FALSE]
  rownames(d) <- NULL
  k <- nrow(d)
  res <- tryCatch(suppressWarnings(compute(d$measure[[1L]], d)), error = function(e) e)
  if (inherits(res, "error")) {
    pieces[[length(pieces) + 1L]] <- data.frame(
      id = id, row = seq_len(k), ok = FALSE, error = gsub("\\s+", " ", conditionMessage(res)),
      yi = "NA", vi = "NA", ni = "NA", stringsAsFactors = FALSE)
  } else {
    sizes <- attr(res$yi, "ni")
    pieces[[length(pieces) + 1L]] <- data.frame(
      id = id, row = seq_len(k), ok = TRUE, error = "",
      yi = hex(res$yi), vi = hex(res$vi), ni = hex(if (is.null(sizes)) rep(NA_real_, k) else sizes),
      stringsAsFactors = FALSE)
  }
}
write.csv(do.call(rbind, pieces), args[[2L]], row.names = FALSE)
