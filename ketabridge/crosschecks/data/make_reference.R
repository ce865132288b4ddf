# Builds reference.csv: the crosscheck "reference" suite, one row per study (long format),
# yi and vi computed by metafor's escalc (or as published in metadat) at full precision.
# Run from this folder: Rscript make_reference.R   (checked with R 4.2.2, metafor 3.8-1, metadat)
suppressMessages(library(metafor))
long <- function(name, es) data.frame(dataset = name, yi = as.numeric(es$yi), vi = as.numeric(es$vi))
sets <- list(
  long("bcg_rr", escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)),
  long("normand1999_md", escalc("MD", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = dat.normand1999)),
  long("hackshaw1998_or", dat.hackshaw1998),
  long("raudenbush1985_smd", dat.raudenbush1985),
  long("molloy2014_zcor", escalc("ZCOR", ri = ri, ni = ni, data = dat.molloy2014)),
  long("egger2001_or", escalc("OR", ai = ai, n1i = n1i, ci = ci, n2i = n2i, data = dat.egger2001)),
  long("pritz1997_plo", escalc("PLO", xi = xi, ni = ni, data = dat.pritz1997)),
  long("konstantopoulos2011_smd", dat.konstantopoulos2011[dat.konstantopoulos2011$district == 11, ])
)
write.csv(do.call(rbind, sets), "reference.csv", row.names = FALSE)
