"""The exceptions and warnings ketabridge raises; a user never sees a raw rpy2 error."""

from __future__ import annotations

import re

INSTALL_HINT = (
    "install R and metafor: `make setup` in a ketabridge checkout, "
    "or `apt-get install r-base-core r-cran-metafor` (Debian/Ubuntu), "
    "or `conda install -c conda-forge r-metafor`, "
    'or in R: install.packages("metafor")'
)

# The remedy for each of rma.uni's iterative algorithms, with the control= settings metafor's
# ?rma.uni gives for it ("Details", on the estimators and control):
# Fisher scoring (ML, REML, EB): tau2.init, threshold, maxiter and stepadj, "e.g.,
# control=list(stepadj=0.5, maxiter=1000)".
CONVERGENCE_HINT = (
    "try control={'stepadj': 0.5, 'maxiter': 1000} (smaller Fisher-scoring steps, more "
    "iterations), or another estimator such as method='DL' or 'PM'"
)
# uniroot's search (PM, MP, PMM, GENQM): tol, maxiter and tau2.max, the top of the interval searched.
UNIROOT_HINT = (
    "try control={'maxiter': 1000, 'tau2.max': 1000} (more iterations of uniroot's search of tau^2, "
    "over a wider interval), or another estimator such as method='REML' or 'DL'"
)
# The iterated estimators (DLIT, SJIT) repeat their update until tau^2 changes by less than
# threshold, at most maxiter times; the non-iterated DL and SJ always give an estimate.
ITERATED_HINTS = {
    method: (
        f"try control={{'maxiter': 1000}} (more iterations) or a larger control={{'threshold': 1e-4}} "
        f"(a looser convergence criterion), or the non-iterated method='{method[:2]}'"
    )
    for method in ("DLIT", "SJIT")
}
# trim-and-fill's own iterations (trimfill.rma.uni's maxiter, which ketabridge leaves at 100)
TRIMFILL_HINT = "try another estimator ('R0' or 'Q0') or give the side ('left' or 'right')"
# Estimators whose iterative algorithm sets the remedy; others (DL, HE, ...) do not iterate.
ALGORITHM_OF = {
    **dict.fromkeys(("ML", "REML", "EB"), CONVERGENCE_HINT),
    **dict.fromkeys(("PM", "MP", "PMM", "GENQM"), UNIROOT_HINT),
    **ITERATED_HINTS,
}
_METHOD_IN_CALL = re.compile(r'\bmethod = "(\w+)"')
# metafor's words for each algorithm in its messages (rma.uni.r, trimfill.rma.uni.r; uniroot's own)
_ALGORITHM_IN_MESSAGE = (
    ("Fisher scoring", CONVERGENCE_HINT),
    ("Iterative DL", ITERATED_HINTS["DLIT"]),
    ("Iterative SJ", ITERATED_HINTS["SJIT"]),
    ("uniroot", UNIROOT_HINT),
    ("_NOT_ converged", UNIROOT_HINT),
    ("Trim and fill", TRIMFILL_HINT),
)


# metafor's wording when an iterative estimator gives up: its own ("... did not converge") and
# that of uniroot, which PM, PMM and GENQM use and which only warns ("_NOT_ converged").
NOT_CONVERGED = re.compile(r"did not converge|_NOT_ converged|failed to converge", re.IGNORECASE)


def convergence_hint(r_message: str, r_call: str) -> str:
    """The remedy for the algorithm that stopped: the one R's message names, else the estimator
    named in the call (method = "..."), else Fisher scoring's (rma.uni's default REML)."""
    for words, hint in _ALGORITHM_IN_MESSAGE:
        if words in r_message:
            return hint
    for method in _METHOD_IN_CALL.findall(r_call):
        if method in ALGORITHM_OF:
            return ALGORITHM_OF[method]
    return CONVERGENCE_HINT


class KetabridgeError(Exception):
    """Base class of every error ketabridge raises."""


class InputError(KetabridgeError, ValueError):
    """The data or options are invalid; raised in Python before anything reaches R."""


class RNotAvailableError(KetabridgeError, RuntimeError):
    """R, metafor or rpy2 is missing, too old, or cannot start."""

    def __init__(self, problem: str):
        super().__init__(f"{problem}; {INSTALL_HINT}")
        self.problem = problem


class MetaforError(KetabridgeError, RuntimeError):
    """metafor stopped with an error; carries R's own message and the call that failed."""

    def __init__(self, r_message: str, r_call: str, failing_call: str = ""):
        self.r_message = r_message
        self.r_call = r_call
        self.failing_call = failing_call
        super().__init__(f"metafor error: {r_message} [in {r_call}]")


class ConvergenceError(MetaforError):
    """An iterative estimator did not converge; the message names the remedy for that estimator
    (``.remedy``)."""

    def __init__(self, r_message: str, r_call: str, failing_call: str = ""):
        super().__init__(r_message, r_call, failing_call)
        self.remedy = convergence_hint(r_message, r_call)
        self.args = (f"metafor did not converge: {r_message} [in {r_call}]; {self.remedy}",)


class VerificationError(KetabridgeError, RuntimeError):
    """The fast engine disagreed with metafor on the analyses rerun to verify it. `result` holds
    the whole batch (its provenance lists every disagreement); the files are written too."""

    def __init__(self, message: str, result=None):
        super().__init__(message)
        self.result = result


class MetaforWarning(UserWarning):
    """A warning R or metafor raised during an analysis, passed on to Python."""


class MissingValuesWarning(UserWarning):
    """Rows with missing values were left out of an analysis."""
