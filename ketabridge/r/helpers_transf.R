# Helpers for back-transformations (predict, leave1out, cumul, augment, proportions, plots).
# By name: the only names ketabridge passes are the ones in ketabridge/analyses/transforms.py, and each
# maps to one metafor function (an allow-list, no eval).
kb_transform <- function(name) {
  switch(name,
    exp = exp,
    ilogit = metafor::transf.ilogit,
    ipft.hm = metafor::transf.ipft.hm,  # needs targs = list(ni = <sample sizes>)
    iarcsin = metafor::transf.iarcsin,
    ztor = metafor::transf.ztor,
    stop(sprintf("unknown transform '%s'", name), call. = FALSE)
  )
}

# The transform as it would be typed in R (a symbol, so calls display transf = transf.ilogit, and
# targs = list(ni = ni)), for the call text in provenance.
kb_transform_shown <- function(name, ni = NULL) {
  c(list(as.name(if (name == "exp") "exp" else paste0("transf.", name))),
    if (!is.null(ni)) list(targs = quote(list(ni = ni))))
}

# A transform as the call text shows it (transf = transf.ilogit, targs = list(ni = ni)), and as
# the arguments metafor's functions take. transform is NULL for none; ni feeds transf.ipft.hm.
kb_transf_options <- function(transform, ni) {
  if (is.null(transform)) return(list())
  shown <- kb_transform_shown(transform, ni)
  names(shown)[1L] <- "transf"
  shown
}

kb_transf_args <- function(transform, ni) {
  if (is.null(transform)) return(list())
  c(list(transf = kb_transform(transform)), if (!is.null(ni)) list(targs = list(ni = ni)))
}
