# A separate R process fitting rma.mv directly (no ketabridge code), for test_property_multilevel.py.
# args: input CSV (study, outcome, time, yi and vi as hex floats), output CSV.
# For every struct ketabridge offers, and for the nested ~ 1 | study/es model, it writes one line
# per quantity: model, quantity, value (as a hex float), or model, "error", message.
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1], stringsAsFactors = FALSE, colClasses = "character")
dat$yi <- as.numeric(dat$yi)
dat$vi <- as.numeric(dat$vi)
dat$time <- as.numeric(dat$time)
dat$es <- seq_len(nrow(dat))
hex <- function(x) sprintf("%a", x)
models <- list(
  nested = list(random = ~ 1 | study/es),
  CS = list(random = ~ outcome | study, struct = "CS"),
  HCS = list(random = ~ outcome | study, struct = "HCS"),
  UN = list(random = ~ outcome | study, struct = "UN"),
  ID = list(random = ~ outcome | study, struct = "ID"),
  DIAG = list(random = ~ outcome | study, struct = "DIAG"),
  AR = list(random = ~ time | study, struct = "AR"),
  HAR = list(random = ~ time | study, struct = "HAR"),
  CAR = list(random = ~ time | study, struct = "CAR")
)
lines <- character()
for (name in names(models)) {
  fit <- tryCatch(suppressWarnings(do.call(rma.mv, c(list(yi = dat$yi, V = dat$vi, data = dat), models[[name]]))),
                  error = function(e) e)
  if (inherits(fit, "error")) {
    lines <- c(lines, paste(name, "error", gsub("[,\n]", " ", conditionMessage(fit)), sep = ","))
    next
  }
  values <- list(estimate = fit$beta[1], std_error = fit$se[1], q = fit$QE, loglik = fit$fit.stats["ll", "REML"])
  if (fit$withS) values <- c(values, setNames(as.list(fit$sigma2), paste0("sigma2.", seq_along(fit$sigma2))))
  if (fit$withG) {
    values <- c(values, setNames(as.list(fit$tau2), paste0("tau2.", seq_along(fit$tau2))))
    values <- c(values, setNames(as.list(fit$rho), if (length(fit$rho) == 1L) "rho" else paste0("rho.", seq_along(fit$rho))))
  }
  lines <- c(lines, paste(name, names(values), vapply(values, hex, ""), sep = ","))
}
writeLines(c("model,quantity,value", lines), args[2])
