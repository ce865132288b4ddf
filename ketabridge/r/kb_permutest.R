# Permutation tests of an rma.uni model's coefficients: metafor::permutest.rma.uni, after
# set.seed(seed) so the random permutations are reproducible (the seed is data, shown in the
# call). exact: NULL leaves metafor's default (random permutations, unless an exact test needs
# no more than iter of them).
kb_permutest <- function(model, iter, seed, exact = NULL) {
  options <- c(if (!is.null(exact)) list(exact = exact), list(iter = iter))
  call_text <- paste0("set.seed(", seed, "); ",
                      kb_call_text("permutest", character(), options, inner = kb_model_call(model)))
  kb_guard(call_text, {
    fit <- kb_fit(model)
    set.seed(seed)
    tested <- do.call(metafor::permutest.rma.uni, c(list(fit, progbar = FALSE), options))
    tidy <- kb_tidy(fit)  # names and the model's own rows; permutation p-values replace the p-values
    tidy$p_value <- as.numeric(tested$pval)
    list(
      tidy = tidy,
      glance = list(
        iterations = length(tested$QM.perm), exact = isTRUE(exact) || tested$exact.iter <= iter,
        seed = as.integer(seed), qm = kb_num(tested$QM), qm_df = as.integer(tested$QMdf[1L]),
        qm_pvalue = kb_num(tested$QMp)
      )
    )
  })
}
