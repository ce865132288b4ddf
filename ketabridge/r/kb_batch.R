# Batch: every analysis of one chunk in one call. The chunk's columns arrive once as whole
# vectors, the loop runs here in R, and only flat column vectors go back to Python.
#   data:     named list of chunk vectors: yi and vi (or sei), or escalc's columns; and
#             "mods:<column>" per moderator column (settings$formula: NULL, or the checked formula);
#             "random:<column>" per column of settings$random (rma.mv's terms; NULL: rma.uni)
#   sizes:    rows per analysis, in chunk order (each analysis's rows are contiguous)
#   settings: list(measure, escalc, method, test, level, trimfill, trimfill_estimator,
#                  trimfill_side (NULL: metafor chooses), regtest, regtest_model, ranktest,
#                  fallback = list of list(label, change))
#   not_converged: the regular expression of metafor's non-convergence messages
kb_batch <- function(data, sizes, settings, not_converged) {
  kb_guard("kb_batch", {
    started <- proc.time()[["elapsed"]]
    prepared <- kb_batch_effects(data, sizes, settings)
    ends <- cumsum(sizes)
    starts <- ends - sizes + 1L
    template <- kb_batch_model(prepared$columns, seq_len(min(2L, length(sizes))), settings)
    runs <- lapply(seq_along(sizes), function(i) {
      kb_batch_one(kb_batch_model(prepared$columns, starts[i]:ends[i], settings), settings, not_converged)
    })
    part <- function(name) lapply(runs, `[[`, name)
    list(
      ok = vapply(runs, `[[`, logical(1), "ok"),
      message = vapply(seq_along(runs), function(i) kb_batch_message(runs[[i]], prepared$warnings[[i]]), character(1)),
      fallback = vapply(runs, `[[`, character(1), "used"),
      r_call = vapply(runs, `[[`, character(1), "call"),
      call_template = if (is.null(settings$random)) kb_model_call(template) else kb_mv_call_text(template),
      glance = kb_batch_columns(part("glance")),
      tidy = kb_batch_rows(part("tidy")),
      trimfill = kb_batch_columns(part("trimfill")),
      regtest = kb_batch_columns(part("regtest")),
      ranktest = kb_batch_columns(part("ranktest")),
      seconds = proc.time()[["elapsed"]] - started
    )
  })
}

# yi and vi (or sei) per row; escalc runs once over the whole chunk (it works row by row).
kb_batch_effects <- function(data, sizes, settings) {
  if (!isTRUE(settings$escalc)) return(list(columns = data, warnings = rep(list(character()), length(sizes))))
  moderators <- data[kb_batch_is_moderator(names(data))]
  computed <- kb_guard("", do.call(metafor::escalc, c(list(measure = settings$measure),
                                                      data[!kb_batch_is_moderator(names(data))])))
  if (!computed$ok) stop(computed$error, call. = FALSE)
  columns <- c(list(yi = as.numeric(computed$value$yi), vi = as.numeric(computed$value$vi)), moderators)
  # escalc's warnings concern the rows it could not compute: pass them to those analyses only
  incomplete <- is.na(columns$yi) | is.na(columns$vi)
  touched <- rowsum(as.integer(incomplete), rep(seq_along(sizes), sizes), reorder = FALSE)[, 1] > 0
  shown <- if (length(computed$warnings)) paste("escalc:", computed$warnings) else character()
  list(columns = columns, warnings = lapply(touched, function(hit) if (hit) shown else character()))
}

# Moderator columns arrive as "mods:<column>" (ketabridge/batches/checks.py); every analysis is
# fitted with the same formula (settings$formula) or matrix of them. Random terms' columns arrive
# as "random:<column>"; like moderators, they are not escalc's.
kb_batch_is_moderator <- function(names) startsWith(names, "mods:") | startsWith(names, "random:")

kb_batch_model <- function(columns, rows, settings) {
  moderators <- startsWith(names(columns), "mods:")
  grouping <- startsWith(names(columns), "random:")
  model <- lapply(columns[!moderators & !grouping], `[`, rows)
  if (any(moderators)) {
    model$mods <- setNames(lapply(columns[moderators], `[`, rows), substring(names(columns)[moderators], 6L))
    model$formula <- settings$formula
  }
  if (!is.null(settings$random)) return(kb_batch_mv_model(model, columns[grouping], rows, settings))
  c(model, settings[c("measure", "method", "test", "level")])
}

# The model list of kb_mv_fit (helpers_mv.R): V the sampling variances, the random terms'
# columns (and a mods formula's, which rma.mv reads from the same data) in `columns`.
kb_batch_mv_model <- function(model, grouping, rows, settings) {
  columns <- setNames(lapply(grouping, `[`, rows), substring(names(grouping), 8L))
  if (!is.null(model$formula)) {
    columns <- c(columns, model$mods[setdiff(names(model$mods), names(columns))])
    model$mods <- NULL
  }
  variances <- if (!is.null(model$sei)) model$sei^2 else model$vi
  Filter(Negate(is.null), c(list(yi = model$yi, V = variances, mods = model$mods, formula = model$formula,
                                 random = settings$random, columns = columns, struct = settings$struct),
                            settings[c("method", "test", "level")]))
}

# rma.mv's glance in the batch's columns (rma's): no single tau^2, so tau2, tau2_se, tau and h2 are
# NA; i2 is the multilevel I^2 (kb_mv_glance); the measure is the batch's (rma.mv takes none).
kb_batch_mv_glance <- function(fit, measure) {
  mv <- kb_mv_glance(fit)
  mv$measure <- measure
  c(mv[c("k", "measure", "method", "test", "level", "estimate", "std_error", "statistic", "df", "p_value",
         "conf_low", "conf_high", "pi_low", "pi_high")],
    list(tau2 = NA_real_, tau2_se = NA_real_, tau = NA_real_, i2 = mv$i2, h2 = NA_real_),
    mv[c("q", "q_df", "q_pvalue", "qm", "qm_df", "qm_pvalue")])
}

# The coefficients, then one row per variance or correlation component (component "random").
kb_batch_mv_tidy <- function(fit) {
  components <- kb_mv_components(fit)
  n <- length(components$term)
  Map(c, kb_tidy(fit), list(term = components$term, estimate = components$estimate, std_error = rep(NA_real_, n),
                            statistic = rep(NA_real_, n), p_value = rep(NA_real_, n), conf_low = rep(NA_real_, n),
                            conf_high = rep(NA_real_, n), component = rep("random", n)))
}

# One analysis: fit (with the fallback policy on non-convergence), glance, tidy, extras.
# grepl costs more than a REML fit's bookkeeping when called for every analysis: skip it when
# there is nothing to search
kb_batch_any <- function(pattern, messages) length(messages) > 0L && any(grepl(pattern, messages, ignore.case = TRUE))

kb_batch_one <- function(model, settings, not_converged) {
  attempt <- kb_batch_fit(model, settings$fallback, not_converged)
  run <- list(ok = attempt$ok, used = attempt$used, call = attempt$call, warnings = attempt$warnings,
              error = if (attempt$ok) "" else attempt$error)
  if (!attempt$ok) return(run)
  fit <- attempt$value
  multilevel <- !is.null(model$random)
  glance <- if (multilevel) kb_batch_mv_glance(fit, settings$measure) else kb_glance(fit)
  run$glance <- c(glance, list(converged = !kb_batch_any(not_converged, attempt$warnings)))
  run$tidy <- if (multilevel) kb_batch_mv_tidy(fit) else kb_tidy(fit)
  extra <- function(name, expr, converged = FALSE) {
    outcome <- kb_guard("", expr)
    run$warnings <<- c(run$warnings, if (length(outcome$warnings)) paste0(name, ": ", outcome$warnings))
    if (!outcome$ok) {
      run$warnings <<- c(run$warnings, paste0(name, " failed: ", outcome$error))
      return(NULL)
    }
    value <- outcome$value
    if (converged) value$converged <- !kb_batch_any(not_converged, outcome$warnings)
    value
  }
  if (isTRUE(settings$trimfill)) {
    estimator <- settings$trimfill_estimator
    run$trimfill <- extra("trimfill", {
      filled <- kb_trimfill_fit(model, settings$trimfill_side, estimator, fit = fit)
      kb_trimfill_glance(filled, estimator)
    }, converged = TRUE)
  }
  if (isTRUE(settings$regtest)) run$regtest <- extra("regtest", kb_regtest_glance(fit, settings$regtest_model, "sei"))
  if (isTRUE(settings$ranktest)) run$ranktest <- extra("ranktest", kb_ranktest_glance(fit))
  run
}

# The fit, or on non-convergence each fallback step in turn until one converges.
kb_batch_fit <- function(model, fallback, not_converged) {
  failed <- function(attempt) {
    kb_batch_any(not_converged, if (attempt$ok) attempt$warnings else attempt$error)
  }
  fitter <- if (is.null(model$random)) kb_fit else kb_mv_fit  # rma.mv batches have no fallback
  attempt <- c(kb_guard("", fitter(model)), list(used = "", call = ""))
  if (!length(fallback) || !failed(attempt)) return(attempt)
  for (step in fallback) {
    changed <- utils::modifyList(model, step$change)
    retry <- kb_guard("", kb_fit(changed))
    if (!failed(retry)) {
      retry$warnings <- c(paste("first fit:", if (attempt$ok) attempt$warnings else attempt$error), retry$warnings)
      return(c(retry, list(used = step$label, call = kb_model_call(changed))))
    }
  }
  attempt$used <- paste("none converged:", paste(vapply(fallback, `[[`, "", "label"), collapse = "; "))
  attempt
}

kb_batch_message <- function(run, escalc_warnings) {
  paste(c(if (!run$ok) run$error, escalc_warnings, run$warnings), collapse = "; ")
}

# One vector per name from per-analysis lists (NULL where that analysis has none): NA there.
kb_batch_columns <- function(rows) {
  present <- Filter(Negate(is.null), rows)
  if (!length(present)) return(NULL)
  sample <- present[[1L]]
  columns <- lapply(names(sample), function(name) {
    missing <- sample[[name]][NA_integer_]  # an NA of the column's own type
    unlist(lapply(rows, function(row) if (is.null(row)) missing else row[[name]]), use.names = FALSE)
  })
  setNames(columns, names(sample))
}

# Tidy tables stacked, with the 1-based position of each row's analysis in the chunk.
kb_batch_rows <- function(tables) {
  counts <- vapply(tables, function(table) length(table$term), integer(1))
  present <- Filter(Negate(is.null), tables)
  if (!length(present)) return(NULL)
  columns <- lapply(setNames(nm = names(present[[1L]])), function(name) unlist(lapply(present, `[[`, name), use.names = FALSE))
  c(list(analysis = rep(seq_along(tables), counts)), columns)
}
