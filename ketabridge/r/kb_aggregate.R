# Collapse dependent estimates to one per cluster: metafor::aggregate.escalc. data: named list
# of the table's columns (yi and vi among them, by those names); cluster: vector; options:
# struct, rho, phi, weighted, checkpd, addk, and time/obs vectors when given.
kb_aggregate <- function(data, cluster, options) {
  shown <- options[setdiff(names(options), c("time", "obs"))]
  inner <- c("x = escalc(measure = \"GEN\", yi = yi, vi = vi, data = dat)", "cluster = cluster",
             if (!is.null(options$time)) "time = time", if (!is.null(options$obs)) "obs = obs")
  kb_guard(kb_call_text("aggregate", character(), shown, inner = inner), {
    frame <- as.data.frame(data, stringsAsFactors = FALSE, optional = TRUE)
    x <- metafor::escalc(measure = "GEN", yi = frame$yi, vi = frame$vi, data = frame[setdiff(names(frame), c("yi", "vi"))])
    args <- c(list(x = x, cluster = cluster), options)
    out <- do.call(metafor::aggregate.escalc, args)
    columns <- lapply(as.list(out), function(column) if (is.factor(column)) as.character(column) else as.vector(column))
    list(table = columns, names = names(out))
  })
}
