"""metafor's error and warning texts, word for word: the fast path must give the same status
and message as the metafor engine for every analysis it claims. These are the same from 3.8-1 to
5.2-1; the one that changed (knha under equal effects) is in rules.py."""

NOT_CONVERGED = "Fisher scoring algorithm did not converge. See 'help(rma)' for possible remedies."
LOCAL_MAXIMUM = (
    "Fisher scoring algorithm may have gotten stuck at a local maximum.\n"
    "Setting tau^2 = 0. Check the profile likelihood plot with profile()."
)
TOO_MANY_PARAMETERS = "Number of parameters to be estimated is larger than the number of observations."
# trimfill's side choice when metafor dropped a constant sqrt(vi) moderator: `if (NA < 0)`
NO_SIDE = "missing value where TRUE/FALSE needed"
REGTEST_RANK = "Model matrix no longer of full rank after addition of predictor. Cannot fit model."
TRIMFILL_NOT_CONVERGED = "Trim and fill algorithm did not converge."
