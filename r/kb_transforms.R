# Back-transformations by name: the only names ketabridge passes are the ones in
# ketabridge/transforms.py, and each maps to one metafor function (an allow-list, no eval).
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
