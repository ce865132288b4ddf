# A variance-covariance matrix of dependent estimates from assumed correlations: metafor::vcalc.
# columns: named list (vi, cluster, and any of subgroup, obs, type, time1, time2, grp1, grp2, w1,
# w2) of vectors; rvars: NULL, or an unnamed list of correlation columns (metafor's rvars);
# options: rho, phi, checkpd, nearpd. Returns the k x k matrix column by column.
kb_vcalc <- function(columns, rvars, options) {
  shown <- setNames(names(columns), names(columns))
  if (length(rvars)) shown <- c(shown, rvars = paste0("c(", paste0("r", seq_along(rvars), collapse = ", "), ")"))
  kb_guard(kb_call_text("vcalc", shown, options), {
    args <- c(columns, options)
    if (length(rvars)) {
      # the correlation columns cross as data under fixed names (r1, r2, ...), named in rvars
      # by symbols made here, never from user text
      args$data <- as.data.frame(setNames(unname(rvars), paste0("r", seq_along(rvars))))
      args$rvars <- as.call(c(as.name("c"), lapply(paste0("r", seq_along(rvars)), as.name)))
    }
    V <- as.matrix(do.call("vcalc", args, envir = asNamespace("metafor")))  # 4.8+: a "vcovmat"
    list(V = as.numeric(V), k = nrow(V))
  })
}
