"""Hypothesis fuzz of the long-table loader: random column orders, unicode, missing values.

Whatever the table, the loader either returns a consistent corpus or raises InputError;
never another exception. In skip mode, every row is either loaded or listed as skipped.
"""
import numpy as np
import pyarrow as pa
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import fastmetrics as fm
from fastmetrics.errors import InputError

text_st = st.one_of(st.none(), st.text(max_size=20))
row_st = st.tuples(st.one_of(st.none(), st.sampled_from(["a", "b", "ç", "会话", ""])),
                   st.one_of(st.none(), st.integers(-3, 6)),
                   st.one_of(st.none(), st.sampled_from(["usr", "sys", "Client", "THERAPIST", "x", ""])),
                   text_st,
                   st.one_of(st.none(), st.floats(allow_nan=True, allow_infinity=True)))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(rows=st.lists(row_st, min_size=0, max_size=25), perm=st.permutations(range(5)),
       skip=st.booleans())
def test_long_table_fuzz(rows, perm, skip):
    names = ["conversation_id", "turn", "speaker", "text", "score"]
    cols = list(zip(*rows)) if rows else [[] for _ in names]
    types = [pa.string(), pa.int64(), pa.string(), pa.string(), pa.float64()]
    arrays = {names[i]: pa.array(list(cols[i]), types[i]) for i in perm}
    table = pa.table(arrays)
    try:
        c = fm.load(table, on_error="skip" if skip else "fail")
    except InputError:
        return
    c.validate()
    assert c.n_conversations >= 1
    assert np.all(np.diff(c.conv_offsets) >= 2)
    if skip:
        assert c.n_turns + sum(1 for s in c.skipped if s["level"] == "row") <= len(rows)
    else:
        assert c.n_turns == len(rows)
    res = fm.score(c)
    assert res.turns.num_rows == c.n_turns
