"""The exceptions and warnings ketabridge raises; a user never sees a raw rpy2 error."""

from __future__ import annotations

import re

INSTALL_HINT = (
    "install R and metafor: `make setup` in a ketabridge checkout, "
    "or `apt-get install r-base-core r-cran-metafor` (Debian/Ubuntu), "
    "or `conda install -c conda-forge r-metafor`, "
    "or in R: install.packages(\"metafor\")"
)

CONVERGENCE_HINT = (
    "try control={'stepadj': 0.5, 'maxiter': 1000} (smaller Fisher-scoring steps, more "
    "iterations), or another estimator such as method='DL' or 'PM'"
)


# metafor's wording when an iterative estimator gives up: its own ("... did not converge") and
# that of uniroot, which PM, EB, SJIT and DLIT use and which only warns ("_NOT_ converged").
NOT_CONVERGED = re.compile(r"did not converge|_NOT_ converged|failed to converge", re.IGNORECASE)


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
    """An iterative estimator did not converge; the message names the remedy."""

    def __init__(self, r_message: str, r_call: str, failing_call: str = ""):
        super().__init__(r_message, r_call, failing_call)
        self.args = (f"metafor did not converge: {r_message} [in {r_call}]; {CONVERGENCE_HINT}",)


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
