"""Frozen results with fixed tidy schemas, and the provenance every result carries.

Every result type (MetaResult, BiasTestResult, SubgroupResult, ProportionsResult, BatchResult,
CrosscheckResult) is read the same way: its tables are methods that return copies, its
``provenance`` is a Provenance, assigning an attribute raises, and it pickles (its fields hold
data, never closures or open handles), so joblib, multiprocessing and Dask workers can return it.
"""

from __future__ import annotations

import copy
import functools
import warnings
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from functools import cache, cached_property
from importlib import metadata

import numpy as np
import pandas as pd
import pyarrow as pa

from ketabridge import schema
from ketabridge.analyses.spec import ModelSpec
from ketabridge.bridge.call import call_entry
from ketabridge.bridge.session import r_session
from ketabridge.errors import InputError

PROVENANCE_ATTR = "ketabridge_provenance"
# The versions a provenance names, as fields and as keys of a run's record.
VERSION_FIELDS = (
    "ketabridge_version", "r_version", "metafor_version", "rpy2_version", "rpy2_rinterface_version",
    "rpy2_robjects_version",
)  # fmt: skip
# Provenance.to_dict() of one R call: these keys, in this order (as provenance.json has always had them).
CALL_FIELDS = (
    "ketabridge_version", "r_version", "metafor_version", "rpy2_version", "r_call", "r_warnings",
    "rpy2_rinterface_version", "rpy2_robjects_version", "created", "r_packages",
)  # fmt: skip


@cache
def ketabridge_version() -> str:
    try:
        return metadata.version("ketabridge")
    except metadata.PackageNotFoundError:
        return "unknown"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def deprecated(old: str, new: str, stacklevel: int = 3) -> None:
    """Warn that ``old`` is going: it keeps working for one release."""
    warnings.warn(
        f"{old} is deprecated and stops working in the next release; use {new}",
        DeprecationWarning,
        stacklevel=stacklevel,
    )


class Details(Mapping):
    """A run's record, read-only: what its provenance.json holds, keys in the same order.

    Values are handed out as copies (``details["options"]`` is a new dict each time), so the
    record cannot be changed through them.
    """

    __slots__ = ("_record",)

    def __init__(self, record: Mapping | None = None):
        object.__setattr__(self, "_record", copy.deepcopy(dict(record or {})))

    def __setattr__(self, name: str, value: object) -> None:
        raise AttributeError("provenance details are read-only")

    def __reduce__(self):
        return Details, (self._record,)  # slots: rebuilt through __init__, not setattr

    def __getitem__(self, key: str):
        return copy.deepcopy(self._record[key])

    def __iter__(self) -> Iterator[str]:
        return iter(self._record)

    def __len__(self) -> int:
        return len(self._record)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Details):
            return self._record == other._record
        return self._record == dict(other) if isinstance(other, Mapping) else NotImplemented

    __hash__ = None

    def __repr__(self) -> str:
        return f"Details({self._record!r})"

    def to_dict(self) -> dict:
        return copy.deepcopy(self._record)


@dataclass(frozen=True)
class Provenance:
    """Who computed a result and how: versions, the R call as text, R's warnings, when.

    The provenance of one R call (rma, regtest, predict...) is its fields; its ``details`` are
    empty. A run of many calls (batch, crosscheck, correlation_grid) keeps its whole record in
    ``details`` (read-only; options, timing, verification...): the fields repeat the versions it
    records ("" where it has none) and ``created`` is when it finished, and ``to_dict()`` gives
    the record as provenance.json holds it.

    ``provenance["metafor_version"]`` (dict-style, as batch and crosscheck results had) still
    works for one release, with a DeprecationWarning: read ``provenance.metafor_version``,
    ``provenance.details["verification"]`` or ``provenance.to_dict()`` instead.
    """

    ketabridge_version: str
    r_version: str
    metafor_version: str
    rpy2_version: str
    r_call: str
    r_warnings: tuple[str, ...] = ()
    # rpy2 3.6 ships its two halves as separate distributions with their own versions.
    rpy2_rinterface_version: str = ""
    rpy2_robjects_version: str = ""
    created: str = field(default_factory=_now)
    # Other R packages whose code computed the numbers (lme4 for rma_glmm, clubSandwich for CR2),
    # as (name, version) pairs: lme4 2.x gives other GLMM estimates than lme4 1.x.
    r_packages: tuple[tuple[str, str], ...] = ()
    details: Details = field(default_factory=Details, repr=False, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "r_warnings", tuple(self.r_warnings))
        packages = self.r_packages.items() if isinstance(self.r_packages, Mapping) else self.r_packages
        object.__setattr__(self, "r_packages", tuple((str(name), str(version)) for name, version in packages))
        if not isinstance(self.details, Details):
            object.__setattr__(self, "details", Details(self.details))

    @classmethod
    def from_reply(cls, reply, r_packages: Mapping[str, str] | None = None) -> Provenance:
        """Provenance of one R reply, with the versions of the running R session and of the
        other R packages (``r_packages``: name -> version) the call computed with."""
        return cls(
            ketabridge_version=ketabridge_version(),
            **r_session().versions(),
            r_call=reply.call,
            r_warnings=reply.warnings,
            r_packages=tuple((r_packages or {}).items()),
        )

    @classmethod
    def of_run(cls, record: Mapping) -> Provenance:
        """Provenance of a run (batch, crosscheck...): ``record`` kept whole, as a copy, in ``details``."""
        return cls(
            **{name: str(record.get(name) or "") for name in VERSION_FIELDS},
            r_call="",
            created=str(record.get("finished") or record.get("created") or _now()),
            details=record,
        )

    @classmethod
    def from_dict(cls, document: Mapping) -> Provenance:
        """The inverse of ``to_dict()``: a call's fields, or a run's record (a provenance.json read back)."""
        if "r_call" in document and set(document) <= set(CALL_FIELDS):
            return cls(**document)
        return cls.of_run(document)

    def to_dict(self) -> dict:
        """JSON-ready: a call's fields, or a run's record as it was written."""
        if self.details:
            return self.details.to_dict()
        shown = {"r_warnings": list(self.r_warnings), "r_packages": dict(self.r_packages)}
        return {name: shown[name] if name in shown else getattr(self, name) for name in CALL_FIELDS}

    # Dict-style reading, deprecated: batch and crosscheck results used to hand out a dict.

    def _dict_style(self, key: str | None = None) -> dict:
        where = (
            f"provenance.{key}"
            if key in CALL_FIELDS
            else f"provenance.details[{key!r}]"
            if key is not None
            else "its fields, provenance.details"
        )
        deprecated("reading a result's provenance as a dict", f"{where} or provenance.to_dict()", stacklevel=4)
        return self.to_dict()

    def __getitem__(self, key: str):
        return self._dict_style(key)[key]

    def get(self, key: str, default=None):
        return self._dict_style(key).get(key, default)

    def __contains__(self, key: str) -> bool:
        return key in self._dict_style(key)

    def __iter__(self) -> Iterator[str]:
        return iter(self._dict_style())

    def keys(self):
        return self._dict_style().keys()

    def values(self):
        return self._dict_style().values()

    def items(self):
        return self._dict_style().items()


class CallableTable:
    """A table that used to be an attribute (``batch_result.glance``) and is now a method.

    Called, it returns the table (a copy). Read as a DataFrame without the call
    (``result.glance["estimate"]``, ``len(result.glance)``, ``result.glance.to_csv(...)``), it
    still works for one release: it warns (DeprecationWarning) and reads a copy of the table.
    It is not a DataFrame (``isinstance`` and ``pd.concat`` need the call).
    """

    __slots__ = ("_read", "_spelling", "_table")

    def __init__(self, read: Callable[[], pd.DataFrame], spelling: str):
        self._read, self._spelling, self._table = read, spelling, None

    def __call__(self) -> pd.DataFrame:
        return self._read()

    def _frame(self) -> pd.DataFrame:
        deprecated(
            f"reading {self._spelling} as a DataFrame", f"{self._spelling}() (a method returning a copy)", stacklevel=4
        )
        if self._table is None:
            self._table = self._read()
        return self._table

    def __getattr__(self, name: str):
        if name.startswith("_"):  # copy, pickle and IPython probe private names: nothing to delegate
            raise AttributeError(name)
        return getattr(self._frame(), name)

    def __getitem__(self, key):
        return self._frame()[key]

    def __setitem__(self, key, value) -> None:
        raise TypeError(f"results are frozen: {self._spelling}() returns a copy of the table that you can change")

    def __len__(self) -> int:
        return len(self._frame())

    def __iter__(self) -> Iterator:
        return iter(self._frame())

    def __contains__(self, key) -> bool:
        return key in self._frame()

    def __array__(self, dtype=None, copy=None) -> np.ndarray:
        return np.asarray(self._frame(), dtype=dtype)

    def __repr__(self) -> str:
        return repr(self._frame())


class table_method:  # lower case: used as a decorator, like property
    """Decorator for a table method that replaces an attribute of the same name: calls work as for
    any method; the attribute spelling answers for one release through CallableTable."""

    def __init__(self, method: Callable[[object], pd.DataFrame]):
        self.method = method
        functools.update_wrapper(self, method)

    def __set_name__(self, owner: type, name: str) -> None:
        self.spelling = f"{owner.__name__}.{name}"

    def __get__(self, instance, owner=None):
        if instance is None:
            return self
        return CallableTable(self.method.__get__(instance, owner), self.spelling)

    def __call__(self, instance) -> pd.DataFrame:  # BatchResult.glance(result), as for a plain method
        return self.method(instance)


@dataclass(frozen=True, eq=False)
class AugmentCall:
    """What ``augment()`` runs on first use, kept as data (not a closure) so a result pickles:
    metafor's ``kb_augment`` on ``spec``'s model, with the natural-scale ``transform`` and its
    ``sizes`` (``intervals.natural_scale``), and for trim-and-fill its ``side`` and ``estimator``."""

    spec: ModelSpec
    transform: str | None
    sizes: np.ndarray | None
    side: str | None = None
    estimator: str | None = None

    def values(self) -> dict:
        return call_entry("kb_augment", self.spec.to_r(), self.side, self.estimator, self.transform, self.sizes).value


def _freeze_arrays(spec: ModelSpec) -> None:
    """Make a spec's arrays read-only again: pickle brings numpy arrays back writeable."""
    for array in (spec.yi, spec.vi, spec.sei, spec.weights, spec.ni, spec.source_rows, *spec.mods.values()):
        if isinstance(array, np.ndarray):
            array.flags.writeable = False


@dataclass(frozen=True, eq=False)
class MetaResult:
    """A fitted metafor model (rma.uni, or its trim-and-fill version) as tidy tables.

    The tables are copied on the way out, so a result cannot be changed after the fact. The
    per-study table is computed on first use: Cook's distances refit the model k times, which
    costs more than the fit itself. A result pickles either way; one unpickled before its first
    ``augment()`` computes it in the process that asks, which then needs R.
    """

    kind: str  # "rma" or "trimfill"
    spec: ModelSpec  # the validated inputs, so follow-up analyses refit the same model
    _glance: pd.DataFrame = field(repr=False)
    _tidy: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)
    _augment_call: AugmentCall = field(repr=False)
    source: pa.Table | None = field(default=None, repr=False)  # the input table, for cumul(order="col")

    @cached_property
    def _augment(self) -> pd.DataFrame:
        return schema.frame(
            self._augment_call.values(), schema.TRIMFILL_AUGMENT if self.kind == "trimfill" else schema.AUGMENT
        )

    def glance(self) -> pd.DataFrame:
        """One row: the pooled (intercept) estimate, heterogeneity and fit statistics."""
        return self._glance.copy()

    def tidy(self) -> pd.DataFrame:
        """One row per coefficient (`intrcpt` and each moderator)."""
        return self._tidy.copy()

    def augment(self) -> pd.DataFrame:
        """One row per study: yi, vi, weight, fitted value, residuals and influence."""
        return self._augment.copy()

    @property
    def glance_table(self) -> pd.DataFrame:
        deprecated("MetaResult.glance_table", "MetaResult.glance()")
        return self.glance()

    @property
    def tidy_table(self) -> pd.DataFrame:
        deprecated("MetaResult.tidy_table", "MetaResult.tidy()")
        return self.tidy()

    @property
    def augment_table(self) -> pd.DataFrame:
        deprecated("MetaResult.augment_table", "MetaResult.augment()")
        return self.augment()

    def to_dict(self) -> dict:
        return {
            "glance": records(self._glance)[0],
            "tidy": records(self._tidy),
            "augment": records(self._augment),
            "provenance": self.provenance.to_dict(),
        }

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state)
        _freeze_arrays(self.spec)

    def __repr__(self) -> str:
        row = self._glance.iloc[0]
        return (
            f"<MetaResult {self.kind} {row['method']} k={row['k']} estimate={row['estimate']:.4g} "
            f"[{row['conf_low']:.4g}, {row['conf_high']:.4g}] tau2={row['tau2']:.4g} I2={row['i2']:.3g}%>"
        )

    def _repr_html_(self) -> str:  # Jupyter: the pooled line in words, the glance table, provenance folded
        from ketabridge.analyses.display import meta_result_html

        return meta_result_html(self)


@dataclass(frozen=True, eq=False)
class BiasTestResult:
    """A publication-bias analysis (regtest, ranktest or fsn): one glance row and provenance."""

    kind: str  # "regtest", "ranktest" or "fsn"
    _glance: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def glance(self) -> pd.DataFrame:
        return self._glance.copy()

    @property
    def glance_table(self) -> pd.DataFrame:
        deprecated("BiasTestResult.glance_table", "BiasTestResult.glance()")
        return self.glance()

    def to_dict(self) -> dict:
        return {"glance": records(self._glance)[0], "provenance": self.provenance.to_dict()}

    def __repr__(self) -> str:
        from ketabridge.analyses.display import bias_test_sentence

        return f"<BiasTestResult {self.kind}: {bias_test_sentence(self)}>"

    def _repr_html_(self) -> str:
        from ketabridge.analyses.display import bias_test_html

        return bias_test_html(self)


def tidy_frame(reply, table_schema: dict) -> pd.DataFrame:
    """A plain tidy frame from one R reply, with that reply's provenance in ``attrs`` (see provenance_of)."""
    table = schema.frame(reply.value, table_schema)
    table.attrs[PROVENANCE_ATTR] = Provenance.from_reply(reply).to_dict()
    return table


def provenance_of(obj) -> Provenance:
    """The Provenance of anything ketabridge returns.

    A result's ``provenance``; for the DataFrames of ``escalc``, ``predict``, ``confint``,
    ``leave1out``, ``influence``, ``cumul`` and ``correlation_grid``, the provenance recorded
    with the frame (as a dict in ``attrs["ketabridge_provenance"]``). A correlation grid's is a
    run's: ``details["rows"]`` holds the escalc and rma provenance of each row.

    Parameters
    ----------
    obj : result, pandas.DataFrame or pandas.Series
        What a ketabridge function returned (or a column of it).

    Returns
    -------
    Provenance
        The versions, the R call and R's warnings (a run's record in ``details``).

    Raises
    ------
    InputError
        ``obj`` carries no ketabridge provenance: not a ketabridge result, or a frame whose
        ``attrs`` a pandas operation (e.g. ``merge``) dropped.
    """
    provenance = getattr(obj, "provenance", None)
    if isinstance(provenance, Provenance):
        return provenance
    if not isinstance(obj, (pd.DataFrame, pd.Series)):
        raise InputError(
            f"provenance_of takes a ketabridge result or a frame ketabridge returned, not {type(obj).__name__}"
        )
    recorded = obj.attrs.get(PROVENANCE_ATTR)
    if isinstance(recorded, Mapping):
        return Provenance.from_dict(recorded)
    if isinstance(recorded, list) and recorded:  # correlation_grid: one escalc + rma pair per row
        first = recorded[0]["rma"]
        return Provenance.of_run(
            {
                **{name: first.get(name, "") for name in VERSION_FIELDS},
                "created": first.get("created", ""),
                "rows": recorded,
            }
        )
    raise InputError(
        f"this {type(obj).__name__} carries no ketabridge provenance (attrs[{PROVENANCE_ATTR!r}] is gone: some pandas "
        "operations, such as merge, drop attrs); call provenance_of on the frame ketabridge returned"
    )


def records(table: pd.DataFrame) -> list[dict]:
    """Rows as JSON-ready dicts of Python scalars (NaN and NA become None; floats keep all digits)."""
    return [
        {name: None if pd.isna(value) else value for name, value in row.items()}
        for row in table.to_dict(orient="records")
    ]


def _glance_schema(kind: str, spec: ModelSpec) -> dict[str, str]:
    """Trim-and-fill adds k0 and its side, a location-scale model the test of its scale part."""
    if kind == "trimfill":
        return schema.TRIMFILL_GLANCE
    return schema.LOCATION_SCALE_GLANCE if spec.scale is not None else schema.GLANCE


def meta_result(
    kind: str, spec: ModelSpec, reply, provenance: Provenance, augment: AugmentCall, source: pa.Table | None = None
) -> MetaResult:
    if not isinstance(augment, AugmentCall):  # a closure would make the result unpicklable
        raise TypeError(f"meta_result takes the augment call as an AugmentCall, not {type(augment).__name__}")
    glance = {**reply.value["glance"], "converged": [reply.converged]}
    return MetaResult(
        kind=kind,
        spec=spec,
        _glance=schema.frame(glance, _glance_schema(kind, spec)),
        _tidy=schema.frame(reply.value["tidy"], schema.TIDY),
        provenance=provenance,
        _augment_call=augment,
        source=source,
    )


def bias_test_result(kind: str, value: dict, provenance: Provenance) -> BiasTestResult:
    table_schema = {"regtest": schema.REGTEST_GLANCE, "ranktest": schema.RANKTEST_GLANCE, "fsn": schema.FSN_GLANCE}[
        kind
    ]
    return BiasTestResult(kind=kind, _glance=schema.frame(value["glance"], table_schema), provenance=provenance)


@dataclass(frozen=True, eq=False, init=False)
class SubgroupResult:
    """One model per subgroup and the test of subgroup differences (see ketabridge.analyses.subgroups).

    ``fits`` maps each subgroup (in order of first appearance) to its MetaResult, so every
    follow-up analysis (predict, influence, trimfill...) works per subgroup.
    """

    column: str  # the subgroup column of the input data
    _fits: dict[str, MetaResult] = field(repr=False)
    _between: pd.DataFrame = field(repr=False)
    provenance: Provenance = field(repr=False)

    def __init__(
        self, column: str, fits: Mapping[str, MetaResult], between_table: pd.DataFrame, provenance: Provenance
    ):
        for name, value in (
            ("column", column),
            ("_fits", dict(fits)),
            ("_between", between_table),
            ("provenance", provenance),
        ):
            object.__setattr__(self, name, value)

    @property
    def fits(self) -> dict[str, MetaResult]:
        """Each subgroup's MetaResult, in order of first appearance (a new dict each time)."""
        return dict(self._fits)

    def glance(self) -> pd.DataFrame:
        """One row per subgroup: ``subgroup`` and the glance columns of its model."""
        return self._stacked(MetaResult.glance, schema.SUBGROUP_GLANCE)

    def tidy(self) -> pd.DataFrame:
        """One row per subgroup and coefficient."""
        return self._stacked(MetaResult.tidy, schema.SUBGROUP_TIDY)

    def augment(self) -> pd.DataFrame:
        """One row per study, with its subgroup."""
        return self._stacked(MetaResult.augment, schema.SUBGROUP_AUGMENT)

    def between(self) -> pd.DataFrame:
        """The test of subgroup differences: one row ``q_between, df, p_value``."""
        return self._between.copy()

    @property
    def between_table(self) -> pd.DataFrame:
        deprecated("SubgroupResult.between_table", "SubgroupResult.between()")
        return self.between()

    def to_dict(self) -> dict:
        return {
            "glance": records(self.glance()),
            "tidy": records(self.tidy()),
            "augment": records(self.augment()),
            "between": records(self._between)[0],
            "provenance": self.provenance.to_dict(),
        }

    def _stacked(self, table: Callable[[MetaResult], pd.DataFrame], table_schema: dict) -> pd.DataFrame:
        parts = [table(fit).assign(subgroup=level) for level, fit in self._fits.items()]
        return pd.concat(parts, ignore_index=True)[list(table_schema)].astype(table_schema)

    def __repr__(self) -> str:
        row = self._between.iloc[0]
        return (
            f"<SubgroupResult by {self.column!r}: {len(self._fits)} subgroups, "
            f"Q_between={row['q_between']:.4g} (df={int(row['df'])}), p={row['p_value']:.4g}>"
        )

    def _repr_html_(self) -> str:
        from ketabridge.analyses.display import subgroup_html

        return subgroup_html(self)
