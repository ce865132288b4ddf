"""Python values <-> R values, at rpy2's low-level interface and without global conversion rules.

Numbers cross as R double vectors built from numpy buffers, labels as character vectors;
R returns plain (named) lists of atomic vectors, which come back as dicts of numpy arrays.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import rpy2.rinterface as ri


def to_r(value):
    """Convert a Python value (scalar, numpy array, list of str, dict, None) to an R object."""
    if value is None:
        return ri.NULL
    if isinstance(value, (bool, np.bool_)):
        return ri.BoolSexpVector([bool(value)])
    if isinstance(value, (int, np.integer)):
        return ri.IntSexpVector([int(value)])
    if isinstance(value, (float, np.floating)):
        return ri.FloatSexpVector([float(value)])
    if isinstance(value, str):
        return ri.StrSexpVector([value])
    if isinstance(value, np.ndarray):
        return _array_to_r(value)
    if isinstance(value, Mapping):
        return named_list({str(key): item for key, item in value.items() if item is not None})
    if isinstance(value, Sequence) and all(isinstance(item, str) for item in value):
        return ri.StrSexpVector(list(value))
    raise TypeError(f"cannot pass {type(value).__name__} to R")


def named_list(items: Mapping[str, object]):
    values = ri.ListSexpVector([to_r(item) for item in items.values()])
    values.do_slot_assign("names", ri.StrSexpVector(list(items)))
    return values


def _array_to_r(array: np.ndarray):
    if array.dtype.kind == "f":
        return ri.FloatSexpVector.from_memoryview(memoryview(np.ascontiguousarray(array, dtype=np.float64)))
    if array.dtype.kind in "iu":
        return ri.IntSexpVector.from_memoryview(memoryview(np.ascontiguousarray(array, dtype=np.int32)))
    if array.dtype.kind == "b":
        return ri.BoolSexpVector([bool(item) for item in array])
    return ri.StrSexpVector([str(item) for item in array])


def to_python(value):
    """Convert what an R entry point returns (NULL, atomic vectors, named lists) to Python."""
    if value is ri.NULL:
        return None
    if isinstance(value, ri.ListSexpVector):
        names = value.names
        items = [to_python(item) for item in value]
        if names is ri.NULL:
            return items
        return dict(zip(names, items))
    if isinstance(value, ri.FloatSexpVector):
        return np.array(value, dtype=np.float64)  # NA_real_ is a NaN and stays one
    if isinstance(value, ri.IntSexpVector):
        numbers = np.array(value, dtype=np.int64)
        missing = numbers == ri.NA_Integer
        return np.where(missing, np.nan, numbers) if missing.any() else numbers
    if isinstance(value, ri.BoolSexpVector):
        return np.array([None if item is ri.NA_Logical else bool(item) for item in value], dtype=object)
    if isinstance(value, ri.StrSexpVector):
        return [None if item is ri.NA_Character else item for item in value]
    raise TypeError(f"unexpected R value of type {type(value).__name__}")


def scalar(values):
    """The single element of a length-1 R vector as converted by to_python."""
    item = values[0]
    return item.item() if isinstance(item, np.generic) else item
