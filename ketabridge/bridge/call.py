"""Call one kb_* entry point: R errors become MetaforError, R warnings MetaforWarning."""

from __future__ import annotations

import re
import warnings
from dataclasses import dataclass

from ketabridge.bridge.session import entry_points, r_lock, r_session
from ketabridge.errors import NOT_CONVERGED, ConvergenceError, MetaforError, MetaforWarning


@dataclass(frozen=True)
class RReply:
    value: dict
    call: str
    warnings: tuple[str, ...]

    @property
    def converged(self) -> bool:
        """False when metafor returned a result but warned that its estimator did not converge."""
        return not any(NOT_CONVERGED.search(message) for message in self.warnings)


def call_entry(name: str, *args, **kwargs) -> RReply:
    """Run the R entry point `name` with Python values converted to R data (never to R code).

    Only the declared entry points are called (kb_<name> of each ketabridge/r/kb_<name>.R), never a helper or
    any other R function the session's environment can see."""
    if name not in entry_points():
        raise ValueError(
            f"{name!r} is not an R entry point; the entry points are the ketabridge/r/kb_<name>.R files' "
            f"kb_<name>: {', '.join(sorted(entry_points()))}"
        )
    session = r_session()  # before rpy2: it says "R is not installed" where importing rpy2 would crash
    import rpy2.rinterface_lib.embedded as embedded  # imported here: importing rpy2 loads R

    from ketabridge.bridge.marshal import scalar, to_python, to_r

    try:
        with r_lock:
            function = session.entry(name)
            reply = to_python(function(*(to_r(arg) for arg in args), **{key: to_r(val) for key, val in kwargs.items()}))
    except embedded.RRuntimeError as error:  # an error outside kb_guard: a bug in ketabridge's R code
        raise MetaforError(str(error).strip(), name) from None
    call = reply["call"][0]
    caught = tuple(reply["warnings"] or ())
    for message in caught:
        warnings.warn(MetaforWarning(message), stacklevel=3)  # the caller of api.*
    if not scalar(reply["ok"]):
        message, failing = reply["error"][0], reply["failing_call"][0]
        error_class = ConvergenceError if NOT_CONVERGED.search(message) else MetaforError
        raise error_class(plain_message(message), call, failing)
    return RReply(value=reply["value"], call=call, warnings=caught)


def plain_message(message: str) -> str:
    """metafor styles messages with crayon escapes and wraps them; keep plain text on one line."""
    return " ".join(re.sub(r"\x1b\[[0-9;]*m", "", message).split())
