# Mantel-Haenszel equal-effects model: metafor::rma.mh. counts: named list of per-study vectors
# (ai, bi, ci, di | ai, ci, n1i, n2i | x1i, x2i, t1i, t2i); options: add, to, drop00 (one or two
# values each, as metafor takes them), correct, level; labels: study labels; shown:
# the user's column of each count argument, for the call text; transform: the
# natural-scale back-transform ("exp" or "").
kb_rma_mh <- function(counts, measure, options, labels, transform, shown) {
  call_text <- kb_call_text("rma.mh", unlist(shown), c(list(measure = measure), options))
  kb_guard(call_text, {
    fit <- do.call("rma.mh", c(list(measure = measure), counts, options, list(slab = labels)),
                   envir = asNamespace("metafor"))
    list(glance = kb_count_glance(fit, "MH", transform), tidy = kb_count_tidy(fit),
         augment = kb_count_studies(fit, labels, metafor::weights.rma.mh(fit)))
  })
}
