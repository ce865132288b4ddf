# Peto's one-step odds ratio: metafor::rma.peto. counts: named list (ai, bi, ci, di | ai, ci,
# n1i, n2i); options: add, to, drop00, level; labels: study labels; shown:
# the user's column of each count argument, for the call text.
kb_rma_peto <- function(counts, options, labels, shown) {
  call_text <- kb_call_text("rma.peto", unlist(shown), options)
  kb_guard(call_text, {
    fit <- do.call("rma.peto", c(counts, options, list(slab = labels)), envir = asNamespace("metafor"))
    list(glance = kb_count_glance(fit, "Peto", "exp"), tidy = kb_count_tidy(fit),
         augment = kb_count_studies(fit, labels, metafor::weights.rma.peto(fit)))
  })
}
