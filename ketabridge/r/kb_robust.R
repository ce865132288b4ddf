# Cluster-robust tests and confidence intervals: metafor::robust (CR1, or CR0 with adjust =
# FALSE), or with clubSandwich = TRUE the CR2 estimator with Satterthwaite df of clubSandwich.
# model: an rma.uni model list (kb_fit) or an rma.mv one (kb_mv_fit, when it has `random`).
kb_robust <- function(model, cluster, options) {
  multilevel <- !is.null(model$random)
  inner <- if (multilevel) kb_mv_call_text(model) else kb_model_call(model)
  shown <- options[c("adjust", "clubSandwich")]
  kb_guard(kb_call_text("robust", character(), shown, inner = c(inner, "cluster = cluster")), {
    # options$package: the package clubSandwich = TRUE needs (its name comes from Python, as data)
    if (isTRUE(options$clubSandwich) && !requireNamespace(options$package, quietly = TRUE)) {
      stop("ketabridge-missing-package: ", options$package, call. = FALSE)
    }
    fit <- if (multilevel) kb_mv_fit(model) else kb_fit(model)
    # cluster passed as a value: robust.rma.uni looks a symbol up in the model's data
    rob <- do.call(metafor::robust, list(fit, cluster = cluster, adjust = isTRUE(options$adjust),
                                         clubSandwich = isTRUE(options$clubSandwich)))
    type <- if (isTRUE(options$clubSandwich)) "CR2" else if (isTRUE(options$adjust)) "CR1" else "CR0"
    clusters <- length(unique(cluster))
    if (multilevel) {
      list(glance = kb_mv_glance(rob, type, clusters), tidy = kb_mv_tidy(rob, type),
           components = kb_mv_components(rob))
    } else {
      list(glance = c(kb_glance(rob), list(n_clusters = clusters, vcov_type = type)), tidy = kb_mv_tidy(rob, type))
    }
  })
}
