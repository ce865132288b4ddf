"""metafor 3.8-1's error and warning texts, word for word: the fast path must give the same status
and message as the metafor engine for every analysis it claims."""

NOT_CONVERGED = "Fisher scoring algorithm did not converge. See 'help(rma)' for possible remedies."
LOCAL_MAXIMUM = ("Fisher scoring algorithm may have gotten stuck at a local maximum.\n"
                 "Setting tau^2 = 0. Check the profile likelihood plot with profile().")
TOO_MANY_PARAMETERS = "Number of parameters to be estimated is larger than the number of observations."
# trimfill's side choice when metafor dropped a constant sqrt(vi) moderator: `if (NA < 0)`
NO_SIDE = "missing value where TRUE/FALSE needed"
KNHA_EQUAL_EFFECTS = "Knapp & Hartung method is not meant to be used in the context of {method} models."
REGTEST_RANK = "Model matrix no longer of full rank after addition of predictor. Cannot fit model."
TRIMFILL_NOT_CONVERGED = "Trim and fill algorithm did not converge."
