"""Input columns are never overwritten or dropped by output columns of the same name."""
import json
import warnings

import numpy as np
import pyarrow as pa
import pytest

import fastmetrics as fm


def _table():
    return pa.table({"conversation_id": ["a", "a", "a", "b", "b"], "turn": [0, 1, 2, 0, 1],
                     "speaker": ["usr", "sys", "usr", "usr", "sys"],
                     "text": ["I feel sad", "I hear you", "thanks", "hello", "hi there"],
                     "role": ["x1", "x2", "x3", "x4", "x5"], "n_tokens": [9, 9, 9, 9, 9],
                     "valence": [0.5, 0.25, 0.0, -0.5, 1.0]})


def test_carried_columns_that_collide_are_renamed_with_the_documented_prefix():
    with pytest.warns(UserWarning, match="input columns renamed"):
        res = fm.score(_table(), metrics=["emotion"])
    t = res.turns
    assert t.column("input_role").to_pylist() == ["x1", "x2", "x3", "x4", "x5"]
    assert t.column("role").to_pylist() == ["client", "therapist", "client", "client", "therapist"]
    assert t.column("input_n_tokens").to_pylist() == [9] * 5
    assert t.column("n_tokens").to_pylist() == [3, 3, 1, 1, 2]
    assert t.column("input_valence").to_pylist() == [0.5, 0.25, 0.0, -0.5, 1.0]
    assert t.column("valence").to_pylist() != t.column("input_valence").to_pylist()
    renamed = json.loads(res.metadata["fastmetrics.renamed_input_columns"])
    assert renamed == {"n_tokens": "input_n_tokens", "role": "input_role", "valence": "input_valence"}


def test_a_conversation_column_meeting_a_trajectory_feature_is_renamed():
    t = _table().drop_columns(["role", "n_tokens", "valence"])
    t = t.append_column("n_tokens_mean", pa.array([100.0] * 3 + [200.0] * 2))
    with pytest.warns(UserWarning, match="n_tokens_mean -> input_n_tokens_mean"):
        res = fm.score(t, metrics=["trajectory"], trajectory=["n_tokens"],
                       conversation_columns=["n_tokens_mean"])
    c = res.conversations
    assert c.column("input_n_tokens_mean").to_pylist() == [100.0, 200.0]
    np.testing.assert_allclose(c.column("n_tokens_mean").to_numpy(), [7 / 3, 1.5])


def test_no_warning_without_collision():
    t = _table().drop_columns(["role", "n_tokens", "valence"])
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        res = fm.score(t, metrics=["emotion"])
    assert "fastmetrics.renamed_input_columns" not in res.metadata


def test_metrics_argument_forms():
    a = fm.score(_table().drop_columns(["role", "n_tokens"]), metrics="lsm")
    assert a.metadata["fastmetrics.metrics"] == "basic,lsm"
    b = fm.score(_table().drop_columns(["role", "n_tokens"]), metrics="lsm,coordination")
    assert b.metadata["fastmetrics.metrics"] == "basic,lsm,coordination"
    with pytest.raises(fm.InputError, match="unknown metric family 'l'"):
        fm.score(_table(), metrics=["l"])
    with pytest.raises(fm.InputError, match="chunk_turns"):
        fm.score(_table(), chunk_turns=-5)
    with pytest.raises(fm.InputError, match="needs an output folder"):
        fm.score(_table(), resume=True)


def test_metrics_all_selects_every_family():
    from fastmetrics import registry

    assert set(registry.parse_metrics("all")) == set(registry.names())
    assert registry.parse_metrics("all")[0] == "basic"


def test_ot_api_rejects_non_documents():
    from fastmetrics import ot

    for a, b in ((None, None), ("a b", None), (3, 4)):
        with pytest.raises(fm.InputError, match="expected a string or a list of token strings"):
            ot.wmd(a, b)
