# Fail-safe N (Rosenthal, Orwin, Rosenberg; REM / General for a random-effects model):
# metafor::fsn on plain yi and vi vectors. seed: R's set.seed() before the simulating types (REM,
# General; NULL for the others); iters: REM's simulated data sets per step (NULL: metafor's).
kb_fsn <- function(yi, vi, type, alpha, target = NULL, weighted = FALSE, seed = NULL, iters = NULL) {
  options <- c(list(type = type, alpha = alpha), if (!is.null(target)) list(target = target),
               if (weighted) list(weighted = TRUE), if (!is.null(iters)) list(iters = iters))
  call_text <- kb_call_text("fsn", c(yi = "yi", vi = "vi"), options)
  if (!is.null(seed)) call_text <- paste0("set.seed(", seed, "); ", call_text)
  kb_guard(call_text, {
    # The estimates go by position: metafor 4.4 renamed fsn's first argument from yi to x.
    # weighted goes only to Orwin's method (3.8's default is unweighted; 4.4 weights whenever vi is
    # given unless told weighted=FALSE), and when asked: 4.4's "General" reads weighted=FALSE as an
    # unweighted random-effects model
    args <- c(list(yi, vi = vi, type = type, alpha = alpha), if (type == "Orwin" || weighted) list(weighted = weighted))
    if (!is.null(target)) args$target <- target
    if (!is.null(iters)) args$iters <- iters
    if (!is.null(seed)) set.seed(seed)
    fail_safe <- do.call(metafor::fsn, args)
    list(glance = list(
      type = fail_safe$type, fail_safe_n = kb_num(fail_safe$fsnum), alpha = kb_num(fail_safe$alpha),
      p_value = kb_num(fail_safe$pval), average_effect = kb_num(fail_safe$meanes),
      target = kb_num(fail_safe$target)
    ))
  })
}
