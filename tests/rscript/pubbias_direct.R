# Independent reference runner for ketabridge's publication-bias property tests
# (tests/test_pubbias_property.py). Written from metafor's documented API (selmodel, permutest,
# rma.uni with scale=, fsn, tes, confint, regtest); it does NOT source ketabridge's R files.
#
#   Rscript tests/rscript/pubbias_direct.R in.csv seed long.csv
#
# in.csv    id, yi, vi, x (C99 hex floats); one block of rows per data set
# seed      the seed given to set.seed() before permutest and fsn(type = "REM")
# long.csv  id, analysis, name, row, value (C99 hex floats; NA for missing)

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3L) stop("usage: pubbias_direct.R in.csv seed long.csv")
hex <- function(x) ifelse(is.na(x), "NA", sprintf("%a", as.numeric(x)))
raw <- read.csv(args[[1L]], colClasses = "character", stringsAsFactors = FALSE)
for (column in c("yi", "vi", "x")) raw[[column]] <- as.numeric(raw[[column]])
seed <- as.integer(args[[2L]])

long <- list()
record <- function(id, analysis, values) {
  for (name in names(values)) {
    long[[length(long) + 1L]] <<- data.frame(id = id, analysis = analysis, name = name,
      row = seq_along(values[[name]]) - 1L, value = hex(values[[name]]), stringsAsFactors = FALSE)
  }
}

for (id in unique(raw$id)) {
  dat <- raw[raw$id == id, ]
  ml <- rma(yi, vi, data = dat, method = "ML")
  half <- selmodel(ml, type = "halfnorm")
  record(id, "selmodel_halfnorm", list(estimate = half$beta, std_error = half$se, conf_low = half$ci.lb,
    conf_high = half$ci.ub, tau2 = half$tau2, lrt = half$LRT, lrt_pvalue = half$LRTp, delta = half$delta,
    delta_se = half$se.delta))
  three <- selmodel(ml, type = "stepfun", steps = c(0.025, 1))
  record(id, "selmodel_3psm", list(estimate = three$beta, lrt = three$LRT, delta = three$delta))
  meta <- rma(yi, vi, mods = ~ x, data = dat)
  set.seed(seed)
  perm <- permutest(meta, iter = 100, progbar = FALSE)
  record(id, "permutest", list(p_value = perm$pval, qm_pvalue = perm$QMp))
  ls <- rma(yi, vi, scale = ~ x, data = dat)
  record(id, "location_scale", list(beta = ls$beta, alpha = ls$alpha, se_alpha = ls$se.alpha, p_alpha = ls$pval.alpha))
  # the random-effects fail-safe N: type "REM" up to metafor 4.2, "General" (its successor) from 4.4
  set.seed(seed)
  if (packageVersion("metafor") < "4.4") {
    rem <- fsn(dat$yi, dat$vi, type = "REM", iters = 200)
  } else {
    rem <- fsn(dat$yi, dat$vi, type = "General")
  }
  record(id, "fsn_random", list(fail_safe_n = rem$fsnum, p_value = rem$pval))
  re <- rma(yi, vi, data = dat)
  excess <- tes(re, test = "binom")
  record(id, "tes", list(observed = excess$O, expected = excess$E, p_value = excess$pval, theta = excess$theta))
  fixed <- confint(meta, fixed = TRUE, random = FALSE)$fixed
  record(id, "confint_fixed", list(conf_low = fixed[, 2], conf_high = fixed[, 3]))
  pet <- regtest(re, model = "lm", predictor = "sei")
  peese <- regtest(re, model = "lm", predictor = "vi")
  record(id, "pet_peese", list(pet = pet$est, peese = peese$est))
}
write.csv(do.call(rbind, long), args[[3L]], row.names = FALSE)
