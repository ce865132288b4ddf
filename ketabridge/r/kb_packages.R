# Which of the named R packages this R can load (without attaching them): one logical each, and
# the version of each ("" where it is not installed), for the provenance of the fits they compute.
kb_packages <- function(packages) {
  kb_guard(kb_call_text("requireNamespace", character(), list(package = packages)), {
    installed <- vapply(packages, function(name) requireNamespace(name, quietly = TRUE), logical(1), USE.NAMES = FALSE)
    list(package = packages, installed = installed,
         version = vapply(seq_along(packages), function(i) {
           if (installed[[i]]) as.character(utils::packageVersion(packages[[i]])) else ""
         }, character(1)))
  })
}
