# Fail-safe N (Rosenthal, Orwin, Rosenberg): metafor::fsn on plain yi and vi vectors.
kb_fsn <- function(yi, vi, type, alpha, target = NULL, weighted = FALSE) {
  options <- c(list(type = type, alpha = alpha), if (!is.null(target)) list(target = target),
               if (weighted) list(weighted = TRUE))
  kb_guard(kb_call_text("fsn", c(yi = "yi", vi = "vi"), options), {
    # The estimates go by position: metafor 4.4 renamed fsn's first argument from yi to x.
    args <- list(yi, vi = vi, type = type, alpha = alpha, weighted = weighted)
    if (!is.null(target)) args$target <- target
    fail_safe <- do.call(metafor::fsn, args)
    list(glance = list(
      type = fail_safe$type, fail_safe_n = kb_num(fail_safe$fsnum), alpha = kb_num(fail_safe$alpha),
      p_value = kb_num(fail_safe$pval), average_effect = kb_num(fail_safe$meanes),
      target = kb_num(fail_safe$target)
    ))
  })
}
