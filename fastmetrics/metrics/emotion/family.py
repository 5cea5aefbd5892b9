"""The ``emotion`` family: a valence score per turn (``valence``).

By default the VADER compound score (:func:`fastmetrics.emotion.valence`, equal to the
``vadersentiment`` package). ``--emotion-column NAME`` uses a per-turn score column the user
already has instead (e.g. a simulator's 0-100 emotion points or a classifier's output); the
column is copied to ``valence`` as float64 (nulls -> NaN) and its name is recorded in the
output metadata. Trajectory features of the series come from the ``trajectory`` family
(``--trajectory valence:client``).
"""
from __future__ import annotations

from ...options import Option, Text
from ...registry import Context, MetricFamily, MetricResult

__all__ = ["FAMILY"]

EMOTION_COLUMN = Option("emotion_column", "", "per-turn score column to use as 'valence' instead "
                        "of the VADER lexicon score (empty: VADER)", Text("a per-turn column name"))


def _compute(corpus, ctx: Context) -> MetricResult:
    col = ctx.options["emotion_column"]
    if col:
        from ...columns import as_float
        from ...errors import InputError

        if col not in ctx.columns:
            raise InputError(f"--emotion-column {col!r} is not a per-turn column of the input; "
                             f"available: {', '.join(sorted(ctx.columns)) or 'none'}")
        return MetricResult(turns={"valence": as_float(col, ctx.columns[col])},
                            metadata={"emotion_source": f"column:{col}"})
    from . import vader_tables, valence

    tables = ctx.resource("vader_tables", vader_tables)
    ctx.backend_for("vader_tokens")
    values = valence(corpus.text, n_threads=ctx.n_threads, backend=ctx.backend_for("vader_ascii"))
    return MetricResult(turns={"valence": values},
                        metadata={"emotion_source": f"vader compound (vadersentiment {tables.version})"})


FAMILY = MetricFamily(
    name="emotion",
    description="valence per turn: VADER compound score, or a user's per-turn score column",
    compute=_compute,
    options=(EMOTION_COLUMN,),
    operations=("vader_ascii", "vader_tokens"),
    turn_columns=("valence",),
    reference="Hutto & Gilbert 2014 (VADER); METRICS.md 6",
)
