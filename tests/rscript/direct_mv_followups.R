# A separate R process running metafor's follow-ups of rma.mv directly (no ketabridge code), for
# test_multilevel_inference.py. args: the Konstantopoulos (2011) CSV, output CSV.
# Writes one line per value: quantity, index (1-based), value as a hex float.
suppressMessages(library(metafor))
args <- commandArgs(trailingOnly = TRUE)
dat <- read.csv(args[1], stringsAsFactors = FALSE)
dat$era <- ifelse(dat$year < 1985, "early", "late")
hex <- function(x) sprintf("%a", as.numeric(x))
lines <- character()
put <- function(name, values) lines <<- c(lines, paste(name, seq_along(values), hex(values), sep = ","))

three <- rma.mv(yi, vi, random = ~ 1 | district/school, data = dat)
two <- rma.mv(yi, vi, random = ~ 1 | study, data = dat)
lrt <- anova(three, two)
put("lrt", c(lrt$LRT, lrt$pval, lrt$parms.f, lrt$parms.r))
put("lrt_full", lrt$fit.stats.f)  # ll, dev, AIC, BIC, AICc
put("lrt_reduced", lrt$fit.stats.r)

mixed <- rma.mv(yi, vi, mods = ~ scale(year) + era, random = ~ 1 | district/school, data = dat, method = "ML")
wald <- anova(mixed, btt = 2:3)
put("wald", c(wald$QM, wald$QMp))
put("fitstats", fitstats(mixed)[, 1])
put("vcov", as.numeric(vcov(mixed)))
new_year <- c(1975, 1990)
X <- cbind((new_year - mean(dat$year)) / sd(dat$year), c(0, 1))
prediction <- predict(mixed, newmods = X)
put("predict", c(prediction$pred, prediction$se, prediction$ci.lb, prediction$pi.ub))
back <- predict(mixed, newmods = X, transf = exp)
put("predict_exp", c(back$pred, back$ci.lb, back$pi.ub))

profiled <- profile(three, sigma2 = 2, steps = 4, xlim = c(0.01, 0.1), progbar = FALSE, plot = FALSE)
put("profile_sigma2.2", c(profiled$sigma2, profiled$ll))
effects <- ranef(three)
put("ranef_district", c(effects[[1]]$intrcpt, effects[[1]]$se, effects[[1]]$pi.lb))
put("ranef_school", c(effects[[2]]$intrcpt, effects[[2]]$se, effects[[2]]$pi.ub))

multivariate <- rma.mv(yi, vi, random = ~ factor(school) | district, data = dat)
profiled <- profile(multivariate, rho = 1, steps = 3, xlim = c(0.3, 0.9), progbar = FALSE, plot = FALSE)
put("profile_rho", c(profiled$rho, profiled$ll))
effects <- ranef(multivariate)
put("ranef_multivariate", c(effects[[1]]$intrcpt, effects[[1]]$se))

two_terms <- rma.mv(yi, vi, random = list(~ era | district, ~ factor(school) | district), struct = c("CS", "ID"),
                    data = dat)
profiled <- profile(two_terms, gamma2 = 1, steps = 3, xlim = c(0.01, 0.1), progbar = FALSE, plot = FALSE)
put("profile_gamma2", c(profiled$gamma2, profiled$ll))
effects <- ranef(two_terms)
put("ranef_second_term", c(effects[[2]]$intrcpt, effects[[2]]$pi.lb))
writeLines(c("quantity,index,value", lines), args[2])
