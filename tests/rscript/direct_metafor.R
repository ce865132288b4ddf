# Independent reference runner for ketabridge's property tests.
#
# Written from metafor's documented API (rma.uni, predict, trimfill, regtest, ranktest,
# weights, hatvalues, rstandard, cooks.distance); it does NOT source or mimic ketabridge's
# ketabridge/r/*.R files. It runs as its own process:
#
#   Rscript tests/rscript/direct_metafor.R in.csv settings.csv out.csv [long.csv]
#
# in.csv       long table of data sets: id, yi, vi and optionally x (moderator) and wi
#              (weights, used by GENQ/GENQM). Numbers may be decimal or C99 hex floats
#              (0x1.8p+1), which R reads exactly.
# settings.csv one row per model: method, test and optional logical flags
#              weights (pass weights = wi), mods (mods = ~ x), augment (per-study
#              diagnostics), trimfill, regtest (model "rma" and "lm", predictor "sei"),
#              ranktest. Absent flags are FALSE.
# out.csv      one row per id x setting: the fit (ok/error), glance-like numbers, and the
#              trimfill / regtest / ranktest numbers (each with its own ok/error column).
# long.csv     (default: out.csv with "_long" before ".csv") long per-row values:
#              id, setting, table ("tidy", "augment", "trimfill_augment"), row, term, name, value.
#
# Every number is written as a C99 hex float (sprintf("%a")), so Python reads it bit-exactly;
# NA is written as "NA".

suppressPackageStartupMessages(library(metafor))

args <- commandArgs(trailingOnly = TRUE)
if (length(args) < 3L) stop("usage: direct_metafor.R in.csv settings.csv out.csv [long.csv]")
in_csv <- args[[1L]]
settings_csv <- args[[2L]]
out_csv <- args[[3L]]
long_csv <- if (length(args) >= 4L) args[[4L]] else sub("\\.csv$", "_long.csv", out_csv)

hex <- function(x) {
  x <- as.numeric(x)
  ifelse(is.na(x) & !is.nan(x), "NA", sprintf("%a", x))
}
first <- function(x) if (is.null(x) || length(x) == 0L) NA_real_ else as.numeric(x[[1L]])
flag <- function(table, name) {
  if (!name %in% names(table)) return(rep(FALSE, nrow(table)))
  toupper(trimws(table[[name]])) %in% c("TRUE", "T", "1")
}
message_of <- function(e) gsub("\\s+", " ", trimws(conditionMessage(e)))

raw <- read.csv(in_csv, colClasses = "character", stringsAsFactors = FALSE)
for (column in intersect(c("yi", "vi", "x", "wi"), names(raw))) raw[[column]] <- as.numeric(raw[[column]])
settings <- read.csv(settings_csv, colClasses = "character", stringsAsFactors = FALSE)
settings$use_weights <- flag(settings, "weights")
settings$use_mods <- flag(settings, "mods")
settings$do_augment <- flag(settings, "augment")
settings$do_trimfill <- flag(settings, "trimfill")
settings$do_regtest <- flag(settings, "regtest")
settings$do_ranktest <- flag(settings, "ranktest")

fit_model <- function(d, method, test, use_weights, use_mods) {
  if (use_weights && use_mods) {
    rma.uni(yi, vi, weights = wi, mods = ~ x, data = d, method = method, test = test)
  } else if (use_weights) {
    rma.uni(yi, vi, weights = wi, data = d, method = method, test = test)
  } else if (use_mods) {
    rma.uni(yi, vi, mods = ~ x, data = d, method = method, test = test)
  } else {
    rma.uni(yi, vi, data = d, method = method, test = test)
  }
}

# A diagnostic that errors becomes NA (the model itself is still reported).
diagnostic <- function(k, expr) tryCatch(as.numeric(expr), error = function(e) rep(NA_real_, k))

long_rows <- list()
add_long <- function(id, setting, table, values, terms = NULL) {
  for (name in names(values)) {
    v <- values[[name]]
    if (!length(v)) next
    long_rows[[length(long_rows) + 1L]] <<- data.frame(
      id = id, setting = setting, table = table, row = seq_along(v),
      term = if (is.null(terms)) "" else terms, name = name, value = hex(v),
      stringsAsFactors = FALSE
    )
  }
}

num_cols <- c(
  "k", "estimate", "std_error", "statistic", "df", "p_value", "conf_low", "conf_high",
  "pi_low", "pi_high", "tau2", "tau2_se", "i2", "h2", "q", "q_pvalue", "qm", "qm_pvalue",
  "tf_k0", "tf_k", "tf_estimate", "tf_std_error", "tf_conf_low", "tf_conf_high", "tf_tau2",
  "tf_p_value",
  "reg_rma_statistic", "reg_rma_df", "reg_rma_p_value", "reg_rma_limit_estimate",
  "reg_rma_limit_conf_low", "reg_rma_limit_conf_high",
  "reg_lm_statistic", "reg_lm_df", "reg_lm_p_value", "reg_lm_limit_estimate",
  "reg_lm_limit_conf_low", "reg_lm_limit_conf_high",
  "rank_tau", "rank_p_value"
)

one <- function(d, id, s, setting) {
  row <- list(id = id, setting = setting, method = s$method, test = s$test,
              weights = s$use_weights, mods = s$use_mods, ok = FALSE, error = "",
              tf_ok = NA, tf_error = "", tf_side = "", reg_rma_ok = NA, reg_rma_error = "",
              reg_lm_ok = NA, reg_lm_error = "", rank_ok = NA, rank_error = "")
  for (name in num_cols) row[[name]] <- NA_real_
  fit <- tryCatch(suppressWarnings(fit_model(d, s$method, s$test, s$use_weights, s$use_mods)),
                  error = function(e) e)
  if (inherits(fit, "error")) {
    row$error <- message_of(fit)
    return(row)
  }
  row$ok <- TRUE
  pred <- if (fit$int.only) suppressWarnings(predict(fit)) else NULL
  row$k <- fit$k
  row$estimate <- first(fit$beta); row$std_error <- first(fit$se); row$statistic <- first(fit$zval)
  row$df <- first(fit$ddf); row$p_value <- first(fit$pval)
  row$conf_low <- first(fit$ci.lb); row$conf_high <- first(fit$ci.ub)
  row$pi_low <- first(pred$pi.lb); row$pi_high <- first(pred$pi.ub)
  row$tau2 <- first(fit$tau2); row$tau2_se <- first(fit$se.tau2)
  row$i2 <- first(fit$I2); row$h2 <- first(fit$H2)
  row$q <- first(fit$QE); row$q_pvalue <- first(fit$QEp)
  row$qm <- first(fit$QM); row$qm_pvalue <- first(fit$QMp)

  add_long(id, setting, "tidy", list(
    estimate = fit$beta, std_error = fit$se, statistic = fit$zval, p_value = fit$pval,
    conf_low = fit$ci.lb, conf_high = fit$ci.ub
  ), terms = rownames(fit$beta))

  if (s$do_augment) {
    k <- fit$k
    add_long(id, setting, "augment", list(
      weight = diagnostic(k, weights(fit)),
      hat = diagnostic(k, hatvalues(fit)),
      std_residual = diagnostic(k, rstandard(fit)$z),
      cooks_distance = diagnostic(k, suppressWarnings(cooks.distance(fit))),
      fitted = diagnostic(k, fitted(fit)),
      residual = diagnostic(k, residuals(fit))
    ))
  }

  if (s$do_trimfill) {
    tf <- tryCatch(suppressWarnings(trimfill(fit)), error = function(e) e)
    if (inherits(tf, "error")) {
      row$tf_ok <- FALSE; row$tf_error <- message_of(tf)
    } else {
      row$tf_ok <- TRUE; row$tf_side <- tf$side
      row$tf_k0 <- first(tf$k0); row$tf_k <- first(tf$k)
      row$tf_estimate <- first(tf$beta); row$tf_std_error <- first(tf$se)
      row$tf_conf_low <- first(tf$ci.lb); row$tf_conf_high <- first(tf$ci.ub)
      row$tf_tau2 <- first(tf$tau2); row$tf_p_value <- first(tf$pval)
      add_long(id, setting, "trimfill_augment", list(
        yi = tf$yi, vi = tf$vi, filled = as.numeric(tf$fill),
        weight = diagnostic(tf$k, weights(tf)), hat = diagnostic(tf$k, hatvalues(tf))
      ))
    }
  }

  if (s$do_regtest) {
    for (model in c("rma", "lm")) {
      prefix <- paste0("reg_", model, "_")
      rt <- tryCatch(suppressWarnings(regtest(fit, model = model, predictor = "sei")), error = function(e) e)
      if (inherits(rt, "error")) {
        row[[paste0(prefix, "ok")]] <- FALSE; row[[paste0(prefix, "error")]] <- message_of(rt)
      } else {
        row[[paste0(prefix, "ok")]] <- TRUE
        row[[paste0(prefix, "statistic")]] <- first(rt$zval)
        row[[paste0(prefix, "df")]] <- first(rt$dfs)
        row[[paste0(prefix, "p_value")]] <- first(rt$pval)
        row[[paste0(prefix, "limit_estimate")]] <- first(rt$est)
        row[[paste0(prefix, "limit_conf_low")]] <- first(rt$ci.lb)
        row[[paste0(prefix, "limit_conf_high")]] <- first(rt$ci.ub)
      }
    }
  }

  if (s$do_ranktest) {
    rk <- tryCatch(suppressWarnings(ranktest(fit)), error = function(e) e)
    if (inherits(rk, "error")) {
      row$rank_ok <- FALSE; row$rank_error <- message_of(rk)
    } else {
      row$rank_ok <- TRUE; row$rank_tau <- first(rk$tau); row$rank_p_value <- first(rk$pval)
    }
  }
  row
}

rows <- list()
for (id in unique(raw$id)) {
  d <- raw[raw$id == id, , drop = FALSE]
  rownames(d) <- NULL
  for (i in seq_len(nrow(settings))) {
    rows[[length(rows) + 1L]] <- one(d, id, settings[i, , drop = FALSE], i)
  }
}

out <- do.call(rbind, lapply(rows, function(r) {
  for (name in num_cols) r[[name]] <- hex(r[[name]])
  as.data.frame(r, stringsAsFactors = FALSE)
}))
write.csv(out, out_csv, row.names = FALSE)
long <- if (length(long_rows)) do.call(rbind, long_rows) else
  data.frame(id = character(), setting = integer(), table = character(), row = integer(),
             term = character(), name = character(), value = character())
write.csv(long, long_csv, row.names = FALSE)
