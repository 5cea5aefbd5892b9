"""Per-turn and per-conversation column helpers shared by the metric families."""
from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from .errors import InputError

__all__ = ["as_float", "is_numeric", "conform"]


def as_float(name: str, col: Any, *, inf_as_missing: bool = True) -> np.ndarray:
    """A column as float64 with NaN for missing values.

    Parameters
    ----------
    name : str
        The column's name (for the error message).
    col : numpy.ndarray, pyarrow.Array or ChunkedArray, or a sequence
    inf_as_missing : bool
        Infinite values count as missing (in the metric columns they mark an undefined value:
        ``wmd_prev`` is +inf when a turn has no in-vocabulary word), not a magnitude.

    Returns
    -------
    numpy.ndarray of float64

    Raises
    ------
    InputError
        The column is not numeric.
    """
    if isinstance(col, np.ndarray) and col.dtype.kind in "fiub":
        v = col.astype(np.float64, copy=False)
    else:
        if isinstance(col, np.ndarray):
            col = pa.array(col)
        if isinstance(col, pa.ChunkedArray):
            col = col.combine_chunks()
        if not isinstance(col, pa.Array):
            col = pa.array(col)
        try:
            col = col.cast(pa.float64())
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as exc:
            raise InputError(f"column {name!r} is not numeric ({col.type}): {exc}") from None
        v = col.fill_null(np.nan).to_numpy(zero_copy_only=False).astype(np.float64, copy=False)
    if inf_as_missing:
        inf = np.isinf(v)
        if inf.any():
            v = np.where(inf, np.nan, v)
    return v


def is_numeric(col: Any) -> bool:
    """True for integer or floating NumPy / Arrow columns (booleans excluded)."""
    if isinstance(col, np.ndarray):
        return col.dtype.kind in "fiu"
    typ = col.type if isinstance(col, (pa.Array, pa.ChunkedArray)) else None
    return typ is not None and (pa.types.is_integer(typ) or pa.types.is_floating(typ))


def conform(table: pa.Table, schema: pa.Schema) -> pa.Table:
    """``table`` with exactly the fields of ``schema``, in its order and types (missing -> null)."""
    cols = []
    for f in schema:
        if f.name in table.column_names:
            col = table.column(f.name)
            cols.append(col if col.type == f.type else col.cast(f.type))
        else:
            cols.append(pa.nulls(table.num_rows, f.type))
    return pa.Table.from_arrays(cols, schema=schema)
