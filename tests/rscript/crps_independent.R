# An independent computation of the CRPS plan's main numbers: plain metafor on rows picked by
# hand (by row_id, following data/crps_ketamine/README.md's rules) from the public-sources file,
# with the SE -> SD conversion written out. Prints name,value lines.
# Usage: Rscript crps_independent.R <crps_ketamine_public_sources.csv>
suppressPackageStartupMessages(library(metafor))
src <- read.csv(commandArgs(TRUE)[1], stringsAsFactors = FALSE)
num <- function(x) suppressWarnings(as.numeric(x))  # Goldberg 2010's "8-9 (range of means)" is text
row <- function(id) src[src$row_id == id, ]
show <- function(name, value) cat(sprintf("%s,%.17g\n", name, value))

# Relief immediately after treatment: Correll 2004, Kiefer 2008 pilot, Goldberg 2010.
relief <- do.call(rbind, lapply(c("C1", "K08a", "G10-5r"), row))
fit <- rma(measure = "PLO", xi = events, ni = total, data = relief, method = "REML")
pred <- predict(fit, transf = transf.ilogit)
show("relief_immediate_estimate", pred$pred)
show("relief_immediate_conf_low", pred$ci.lb)
show("relief_immediate_conf_high", pred$ci.ub)
show("relief_immediate_tau2", fit$tau2)

# Relief at 1-3 months: Kiefer 2008 at 1 month, Sigtermans 2009 (Dahan 2011 model).
later <- do.call(rbind, lapply(c("K08b-1", "S09a-resp"), row))
fit <- rma(measure = "PLO", xi = events, ni = total, data = later, method = "REML")
show("relief_followup_1_3m_estimate", predict(fit, transf = transf.ilogit)$pred)

# Pain change: Sigtermans 2010 (before/after, "±" read as SE, ri = 0.5) and Patil 2012 (mean change, SE).
s10 <- row("S10-0")
n <- num(s10$n_ketamine)
sd_pre <- num(s10$baseline_disp) * sqrt(n)
sd_post <- num(s10$post_disp) * sqrt(n)
yi <- c(num(s10$post_mean) - num(s10$baseline_mean), num(row("P12")$change_mean))
vi <- c((sd_pre^2 + sd_post^2 - 2 * 0.5 * sd_pre * sd_post) / n, num(row("P12")$change_disp)^2)
fit <- rma(yi, vi, method = "REML")
show("pain_change_immediate_estimate", fit$beta[1])
show("pain_change_immediate_conf_low", fit$ci.lb)
show("pain_change_immediate_conf_high", fit$ci.ub)
show("pain_change_immediate_tau2", fit$tau2)
