# Helpers for the multilevel/multivariate entry points (kb_rma_mv, kb_rma_mv_augment, kb_robust,
# and the plots of an rma.mv model). The model list (ketabridge/analyses/multilevel_spec.py):
#   list(yi, V (vector of variances, or a k x k matrix given column by column as V with V_dim = k),
#        slab, mods = named list of columns, formula = checked mods formula, random = checked
#        random formulas (character), columns = named list of the columns the formulas use,
#        struct, method, test, dfs, level, sparse, control = named list, and the fixed components
#        sigma2, tau2, rho, gamma2, phi when given: numeric, NaN = estimated)

kb_mv_call_text <- function(model) {
  columns <- c(yi = "yi", V = if (is.null(model$V_dim)) "vi" else "V")
  if (!is.null(model$formula)) {
    columns <- c(columns, mods = model$formula)
  } else if (length(model$mods)) {
    columns <- c(columns, mods = paste0("cbind(", paste(vapply(names(model$mods), kb_backquote, ""), collapse = ", "), ")"))
  }
  random <- model$random
  columns <- c(columns, random = if (length(random) == 1L) random else paste0("list(", paste(random, collapse = ", "), ")"))
  if (!is.null(model$slab)) columns <- c(columns, slab = "slab")
  options <- model[intersect(c("struct", "method", "test", "dfs", "level", "sparse", "control"), names(model))]
  kb_call_text("rma.mv", columns, c(options, kb_mv_fixed(model)))
}

# Fixed variance components (sigma2, tau2, rho, gamma2, phi): numeric vectors from Python, NaN
# where the component is estimated, which metafor reads as NA.
kb_mv_fixed <- function(model) {
  fixed <- model[intersect(c("sigma2", "tau2", "rho", "gamma2", "phi"), names(model))]
  lapply(fixed, function(values) {
    values <- as.numeric(values)
    values[is.nan(values)] <- NA_real_
    values
  })
}

kb_mv_V <- function(model) {
  if (is.null(model$V_dim)) return(model$V)
  matrix(model$V, nrow = model$V_dim, ncol = model$V_dim)
}

kb_mv_fit <- function(model) {
  names_used <- names(model$columns)
  data <- kb_formula_data(model$columns)
  random <- lapply(model$random, kb_formula, columns = names_used)
  args <- list(yi = model$yi, V = kb_mv_V(model), random = if (length(random) == 1L) random[[1L]] else random,
               data = data)
  if (!is.null(model$formula)) {
    args$mods <- kb_formula(model$formula, names_used)
  } else if (length(model$mods)) {
    args$mods <- do.call(cbind, model$mods)
  }
  if (!is.null(model$slab)) args$slab <- model$slab
  for (name in intersect(c("struct", "method", "test", "dfs", "level", "sparse", "control"), names(model))) {
    args[[name]] <- model[[name]]
  }
  args <- c(args, kb_mv_fixed(model))
  do.call("rma.mv", args, envir = asNamespace("metafor"))  # by name, so errors name rma.mv
}

# The multilevel I^2 of metafor's FAQ (tips:i2_multilevel_multivariate): the typical sampling
# variance (k - p) / tr(P), P = W - W X (X'WX)^-1 X'W, with W = diag(1/vi), or W = V^-1 when the
# sampling errors are correlated (the FAQ's multivariate case; the same W when V is diagonal).
kb_mv_typical_variance <- function(fit) {
  X <- as.matrix(fit$X)
  V <- fit$V
  if (is.null(dim(V)) || all(V[upper.tri(V)] == 0)) {
    # diagonal W: tr(P) = sum(w) - tr((X'WX)^-1 X'W^2 X), in O(k p^2) rather than k x k
    w <- 1 / fit$vi
    trace_P <- sum(w) - sum(diag(solve(crossprod(X, w * X), crossprod(X, w^2 * X))))
  } else {
    W <- chol2inv(chol(as.matrix(V)))
    WX <- W %*% X
    trace_P <- sum(diag(W)) - sum(diag(solve(crossprod(X, WX), crossprod(WX))))
  }
  (fit$k - fit$p) / trace_P
}

kb_mv_components <- function(fit) {
  typical <- kb_mv_typical_variance(fit)
  rows <- list()
  add <- function(term, factor, estimate, sqrt_estimate, levels, fixed, i2) {
    rows[[length(rows) + 1L]] <<- list(term = term, factor = factor, estimate = estimate, sqrt = sqrt_estimate,
                                       n_levels = as.integer(levels), fixed = fixed, i2 = i2)
  }
  sigma_total <- if (fit$withS) sum(fit$sigma2) else 0
  if (fit$withS) {
    for (i in seq_along(fit$sigma2)) {
      add(paste0("sigma2.", i), fit$s.names[i], fit$sigma2[i], sqrt(fit$sigma2[i]), fit$s.nlevels[i],
          isTRUE(fit$vc.fix$sigma2[i]), 100 * fit$sigma2[i] / (sigma_total + typical))
    }
  }
  kb_mv_inner_outer(fit, "G", add, typical)
  kb_mv_inner_outer(fit, "H", add, typical)
  if (!length(rows)) {
    return(list(term = character(), factor = character(), estimate = numeric(), sqrt = numeric(),
                n_levels = integer(), fixed = logical(), i2 = numeric()))
  }
  lapply(setNames(names(rows[[1L]]), names(rows[[1L]])), function(column) unlist(lapply(rows, `[[`, column)))
}

# tau2/rho (the first ~ inner | outer term, "G") or gamma2/phi (the second, "H"), one row each,
# with the inner level (or its index) as the factor; I^2 of a tau2 is its share next to the
# typical sampling variance, outcome by outcome (the FAQ's multivariate case).
kb_mv_inner_outer <- function(fit, which, add, typical) {
  if (!isTRUE(fit[[paste0("with", which)]])) return(invisible())
  var_name <- if (which == "G") "tau2" else "gamma2"
  cor_name <- if (which == "G") "rho" else "phi"
  variances <- fit[[var_name]]
  levels <- fit[[paste0(tolower(which), ".levels.f")]][[1L]]
  counts <- fit[[paste0(tolower(which), ".levels.k")]]
  fixed <- fit$vc.fix[[var_name]]
  outer_levels <- fit[[paste0(tolower(which), ".nlevels")]][2L]
  for (i in seq_along(variances)) {
    label <- if (length(variances) == length(levels)) as.character(levels[i]) else fit[[paste0(tolower(which), ".names")]][1L]
    count <- if (length(variances) == length(counts)) counts[i] else outer_levels
    add(paste0(var_name, ".", i), label, variances[i], sqrt(variances[i]), count, isTRUE(fixed[i]),
        100 * variances[i] / (variances[i] + typical))
  }
  correlations <- fit[[cor_name]]
  for (i in seq_along(correlations)) {
    add(if (length(correlations) == 1L) cor_name else paste0(cor_name, ".", i),
        fit[[paste0(tolower(which), ".names")]][2L], correlations[i], NA_real_, outer_levels,
        isTRUE(fit$vc.fix[[cor_name]][i]), NA_real_)
  }
}

kb_mv_glance <- function(fit, vcov_type = "model", n_clusters = NA_integer_) {
  prediction <- if (fit$int.only) metafor::predict.rma(fit) else NULL
  typical <- kb_mv_typical_variance(fit)
  total_i2 <- if (fit$withS && !fit$withG && !fit$withH) 100 * sum(fit$sigma2) / (sum(fit$sigma2) + typical) else NA_real_
  stats <- fit$fit.stats
  list(
    k = fit$k, measure = fit$measure, method = fit$method, test = fit$test, level = 100 * (1 - fit$level),
    estimate = kb_num(fit$beta), std_error = kb_num(fit$se), statistic = kb_num(fit$zval),
    df = kb_num(fit$ddf), p_value = kb_num(fit$pval), conf_low = kb_num(fit$ci.lb), conf_high = kb_num(fit$ci.ub),
    pi_low = kb_num(prediction$pi.lb), pi_high = kb_num(prediction$pi.ub),
    sigma2_total = if (fit$withS) sum(fit$sigma2) else NA_real_, i2 = total_i2,
    q = kb_num(fit$QE), q_df = fit$k - fit$p, q_pvalue = kb_num(fit$QEp),
    qm = kb_num(fit$QM), qm_df = as.integer(fit$QMdf[1L]), qm_pvalue = kb_num(fit$QMp),
    loglik = kb_num(stats[["ll", if (fit$method == "REML") "REML" else "ML"]]),
    aic = kb_num(stats[["AIC", if (fit$method == "REML") "REML" else "ML"]]),
    bic = kb_num(stats[["BIC", if (fit$method == "REML") "REML" else "ML"]]),
    n_clusters = as.integer(n_clusters), vcov_type = vcov_type
  )
}

kb_mv_tidy <- function(fit, vcov_type = "model") {
  c(kb_tidy(fit), list(df = rep_len(as.numeric(if (is.null(fit$ddf)) NA_real_ else fit$ddf), length(fit$beta)),
                       vcov_type = rep(vcov_type, length(fit$beta))))
}
