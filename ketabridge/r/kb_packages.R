# Which of the named R packages this R can load (without attaching them): one logical each.
kb_packages <- function(packages) {
  kb_guard(kb_call_text("requireNamespace", character(), list(package = packages)), {
    list(package = packages,
         installed = vapply(packages, function(name) requireNamespace(name, quietly = TRUE), logical(1), USE.NAMES = FALSE))
  })
}
