"""Directed measures follow one naming convention in every family and in docs/METRICS.md."""
import re
from pathlib import Path

from fastmetrics import registry

ROOT = Path(__file__).resolve().parents[1]
ROLES = ("client", "therapist")


def _declared_columns():
    for name in registry.names():
        fam = registry.get(name)
        for col in (*fam.turn_columns, *fam.conversation_columns):
            yield name, col


def test_directed_columns_use_the_b_to_a_form_and_are_documented():
    doc = (ROOT / "docs" / "METRICS.md").read_text()
    directed = [(f, c) for f, c in _declared_columns() if "_to_" in c]
    assert {c for _, c in directed} >= {"coordination_therapist_to_client", "nclid_client_to_therapist"}
    for fam, col in directed:
        m = re.fullmatch(r"[a-z_]+?_(client|therapist)_to_(client|therapist)(_[a-z]+)?", col)
        assert m and m.group(1) != m.group(2), f"{fam}: {col} is not <measure>_<B>_to_<A>"
        assert f"`{col}`" in doc, f"{col} ({fam}) is not in docs/METRICS.md"


def test_no_column_uses_the_ambiguous_two_role_form():
    for fam, col in _declared_columns():
        for a in ROLES:
            for b in ROLES:
                if a != b:
                    assert f"_{a}_{b}" not in col, f"{fam}: {col} names two roles without a direction"


def test_nclid_direction_matches_its_anchor():
    """nclid_therapist_to_client has the client as anchor: the therapist follows the client."""
    import numpy as np
    import pyarrow as pa

    from fastmetrics import Corpus
    from fastmetrics.metrics.ot import nclid

    # the therapist repeats each client turn word for word; the client never repeats the therapist
    text = ["the cat sat on the mat", "the cat sat on the mat", "dogs bark loudly at night",
            "dogs bark loudly at night", "fish swim in the sea", "fish swim in the sea",
            "birds fly south in winter", "sun shines bright today"]
    role = np.array([0, 1, 0, 1, 0, 1, 0, 1], np.int8)
    c = Corpus(conversation_id=pa.array(["a"]), conv_offsets=np.array([0, 8]), role=role,
               speaker=pa.array(["c", "t"] * 4), text=pa.array(text))
    res = nclid(c, k=1)
    assert res["uclid_therapist_to_client"][0] < res["uclid_client_to_therapist"][0]
