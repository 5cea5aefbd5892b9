"""The contract every registered metric family meets, on every backend available here.

A family or a backend is tested by being registered: the cases below are generated from
``registry.names()``, ``registry.all_options()`` and ``fastmetrics.backends``. Each family runs
through ``fastmetrics.score`` on one small corpus, and:

* writes its declared columns, at the declared level, one value per turn / conversation, and
  writes nothing it does not declare;
* gives identical results whatever the chunk size and the thread count, and on every backend
  that implements its operations (exact equality; the C and Numba EMD solvers take the same
  pivots in the same order, so exact WMD agrees to the last bit too). One documented
  tolerance: families over float32 sentence embeddings (the cosines go through BLAS, whose
  float32 round-off depends on the batch shape) agree to ``EMBEDDING_RTOL``;
* records the backend that actually ran each of its operations, and the option values it ran
  with;
* rejects every invalid value of every option it declares, through the API and the CLI alike,
  with the same one-line message.
"""
from __future__ import annotations

import json

import numpy as np
import pyarrow as pa
import pytest

import fastmetrics as fm
from fastmetrics import backends, registry
from fastmetrics.cli import main
from fastmetrics.options import ExistingPath, ListOf, Text

FAMILIES = registry.names()
#: Relative tolerance of float columns of embedding-based families across chunkings.
EMBEDDING_RTOL = 2e-6
#: Families whose options may be non-default for the cases below.
OPTIONS = {"cache_dir": None}  # filled per test with a temporary folder


def _backends_of(family: str) -> list[str]:
    """Named backends that implement one of the family's operations and are available here."""
    ops = registry.get(family).operations
    return [b for b in backends.BACKENDS
            if backends.available(b) and any(b in backends.implementations(op) for op in ops)]


def _corpus_table(seed: int = 7) -> pa.Table:
    rng = np.random.default_rng(seed)
    words = ["i", "feel", "so", "sad", "and", "alone", "you", "are", "not", "alone", "that", "sounds", "really",
             "hard", "what", "happened", "the", "good", "day", "but", "a", "lot", "of", "work", "we", "can", "try",
             "to", "plan", "it", "together", "maybe", "tomorrow"]
    strategies = ["Question", "Reflection of feelings", "Providing Suggestions", "Information",
                  "Affirmation and Reassurance", "Others"]
    rows = []
    for c in range(14):
        n = int(rng.integers(2, 14))
        for t in range(n):
            who = ["usr", "sys"][t % 2] if c % 5 else ["usr", "sys", "other"][int(rng.integers(0, 3))]
            text = " ".join(rng.choice(words, int(rng.integers(1, 12))))
            if t == 3 and c % 4 == 0:
                text = "??"  # no in-vocabulary word: WMD +inf, no tokens for VADER rules
            rows.append({"conversation_id": f"c{c:02d}", "turn": t, "speaker": who, "text": text,
                         "strategy": strategies[int(rng.integers(0, len(strategies)))] if who == "sys" else None,
                         "rating": float(rng.integers(1, 6)) if who == "usr" else None})
    return pa.Table.from_pylist(rows)


@pytest.fixture(scope="module")
def corpus():
    return fm.load(_corpus_table())


@pytest.fixture(scope="module")
def cache_dir(tmp_path_factory):
    return str(tmp_path_factory.mktemp("embeddings"))


def _opts(family: str, cache_dir: str) -> dict:
    names = {o.name for o in registry.get(family).options}
    return {"cache_dir": cache_dir} if "cache_dir" in names else {}


def _run(corpus, family, cache_dir, **kw):
    return fm.score(corpus, metrics=[family], **_opts(family, cache_dir), **kw)


def _equal_tables(a: pa.Table, b: pa.Table, where: str, rtol: float = 0.0) -> None:
    assert a.column_names == b.column_names, where
    for name in a.column_names:
        x, y = a.column(name), b.column(name)
        assert x.type == y.type, f"{where}: {name}"
        if pa.types.is_floating(x.type):
            xa = x.to_numpy(zero_copy_only=False)
            ya = y.to_numpy(zero_copy_only=False)
            if rtol:
                np.testing.assert_allclose(xa, ya, rtol=rtol, atol=rtol, err_msg=f"{where}: {name}")
            else:
                np.testing.assert_array_equal(xa, ya, err_msg=f"{where}: {name}")
        else:
            assert x.to_pylist() == y.to_pylist(), f"{where}: {name}"


# ------------------------------------------------------------------------------------------
# columns, levels, lengths; invariance to chunks, threads and backends
# ------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def reference_runs(corpus, cache_dir):
    return {f: _run(corpus, f, cache_dir, n_threads=2) for f in FAMILIES}


@pytest.mark.parametrize("family", FAMILIES)
def test_declared_columns_levels_and_lengths(family, corpus, reference_runs):
    fam = registry.get(family)
    res = reference_runs[family]
    turns, convs = res.turns, res.conversations
    assert turns.num_rows == corpus.n_turns and convs.num_rows == corpus.n_conversations
    for col in fam.turn_columns:
        assert col in turns.column_names, f"{family} declares turn column {col}"
        assert col not in convs.column_names
    for col in fam.conversation_columns:
        if family == "behaviour" and col.endswith("_given_neg_rate") and "valence" not in turns.column_names:
            continue
        assert col in convs.column_names, f"{family} declares conversation column {col}"
    # everything the run wrote belongs to the base tables, the input, or a family of the run
    run_families = [registry.get(n) for n in res.metadata["fastmetrics.metrics"].split(",")]
    base_t = {"conversation_id", "turn", "role", "speaker", "text", *corpus.turn_columns}
    base_c = {"conversation_id", "n_turns", "n_client_turns", "n_therapist_turns", *corpus.conv_columns}
    for col in turns.column_names:
        assert col in base_t or any(f.declares(col, "turn") for f in run_families), col
    for col in convs.column_names:
        assert col in base_c or any(f.declares(col, "conversation") for f in run_families), col


#: Option variants under which the invariances are checked too (every OT method, windows, ...).
VARIANTS = {
    "wmd": [{"ground_cost": "cosine"}, {"normalize_vectors": False}],
    "nclid": [{"nclid_mode": "rwmd"}, {"nclid_mode": "wcd"}, {"nclid_mode": "sinkhorn"},
              {"nclid_k": 1, "nclid_denominator": "mean"}, {"surrogates": 5, "surrogate_seed": 4},
              {"nclid_mode": "wcd", "surrogates": 3}],
    "lsm": [{"surrogates": 5, "surrogate_seed": 3}],
    "rlsm": [{"window": 2}, {"surrogates": 5}],
    "coordination": [{"coordination_threshold": 1}, {"surrogates": 5, "coordination_threshold": 1}],
    "embedding_sync": [{"window": 2}, {"surrogates": 4, "surrogate_seed": 2}],
    "trajectory": [{"trajectory_threshold": 0.0, "trajectory": ["rating", "n_tokens:client"]}],
    "alliance": [{"compass_compat": True}],
}
INVARIANCE = [(f, {}) for f in FAMILIES] + [(f, v) for f, vs in VARIANTS.items() for v in vs]


@pytest.mark.filterwarnings("ignore::fastmetrics.errors.ConvergenceWarning")
@pytest.mark.parametrize("family,variant", INVARIANCE,
                         ids=[f"{f}{'-' if v else ''}{','.join(f'{k}={x}' for k, x in v.items())}"
                              for f, v in INVARIANCE])
def test_results_do_not_depend_on_chunk_size_or_threads(family, variant, corpus, cache_dir,
                                                        reference_runs):
    ref = reference_runs[family] if not variant else _run(corpus, family, cache_dir, n_threads=2,
                                                          **variant)
    chunked = _run(corpus, family, cache_dir, n_threads=2, chunk_turns=17, **variant)
    one = _run(corpus, family, cache_dir, n_threads=1, **variant)
    rtol = EMBEDDING_RTOL if "embeddings" in registry.get(family).needs or family == "empathy" else 0.0
    for other, what in ((chunked, "chunk_turns=17"), (one, "n_threads=1")):
        _equal_tables(ref.turns, other.turns, f"{family} turns, {what}", rtol)
        _equal_tables(ref.conversations, other.conversations, f"{family} conversations, {what}", rtol)


CASES = [(f, v, b) for f, v in INVARIANCE for b in _backends_of(f)]


@pytest.mark.filterwarnings("ignore::fastmetrics.errors.ConvergenceWarning")
@pytest.mark.parametrize("family,variant,backend", CASES,
                         ids=[f"{f}-{b}{'-' if v else ''}{','.join(f'{k}={x}' for k, x in v.items())}"
                              for f, v, b in CASES])
def test_results_do_not_depend_on_the_backend_and_record_it(family, variant, backend, corpus,
                                                            cache_dir, reference_runs):
    ref = reference_runs[family] if not variant else _run(corpus, family, cache_dir, n_threads=2,
                                                          **variant)
    res = _run(corpus, family, cache_dir, n_threads=2, backend=backend, **variant)
    _equal_tables(ref.turns, res.turns, f"{family} on {backend}")
    _equal_tables(ref.conversations, res.conversations, f"{family} on {backend}")
    ran = json.loads(res.metadata["fastmetrics.backends"])[family]
    for op in ran:
        expected = backend if backend in backends.implementations(op) else backends.resolve("auto", op).backend
        assert ran[op] == expected, (family, op)
    used = set(res.metadata[f"fastmetrics.{family}.backend"].split(","))
    assert used == set(ran.values())
    if any(backend in backends.implementations(op) for op in ran):
        assert backend in used


@pytest.mark.parametrize("family", FAMILIES)
def test_metadata_records_the_options_and_backends_that_ran(family, reference_runs):
    res = reference_runs[family]
    params = json.loads(res.metadata["fastmetrics.params"])
    fam = registry.get(family)
    for opt in fam.options:
        assert opt.name in params["options"], f"{family}: {opt.name} not recorded"
    ran = json.loads(res.metadata["fastmetrics.backends"]).get(family, {})
    assert set(ran) <= set(fam.operations) and bool(ran) == bool(fam.operations)
    for op, b in ran.items():
        assert b == backends.resolve("auto", op).backend


def test_recorded_option_is_the_one_used(corpus, cache_dir):
    """A non-default option value changes what is computed, and is what the metadata says."""
    from fastmetrics.metrics.sync import synchrony

    res = fm.score(corpus, metrics=["rlsm"], window=3)
    assert json.loads(res.metadata["fastmetrics.params"])["options"]["window"] == 3
    np.testing.assert_array_equal(res.turns.column("rlsm_window").to_numpy(),
                                  synchrony(corpus, window=3).rlsm_window)
    assert not np.array_equal(synchrony(corpus, window=3).rlsm_window,
                              synchrony(corpus, window=8).rlsm_window, equal_nan=True)


# ------------------------------------------------------------------------------------------
# every invalid value of every option, through both doors
# ------------------------------------------------------------------------------------------
def _negative_cases():
    owners = registry.option_owners()
    for name, opt in registry.all_options().items():
        for bad in opt.constraint.invalid_examples():
            yield name, owners[name][0], bad


NEGATIVE = list(_negative_cases())


@pytest.mark.parametrize("name,family,bad", NEGATIVE, ids=[f"{n}={b!r}" for n, _, b in NEGATIVE])
def test_invalid_option_values_are_rejected_by_api_and_cli(name, family, bad, tmp_path, capsys):
    with pytest.raises(fm.InputError) as api_err:
        fm.score(fm.api.demo_path(), metrics=[family], **{name: bad})
    msg = str(api_err.value)
    assert msg.startswith(f"option {name} (--{name.replace('_', '-')}): got ")
    opt = registry.all_options()[name]
    action = opt.constraint.cli_action
    # what the CLI can express: strings typed after the flag (a list: the flag repeated)
    is_list = isinstance(opt.constraint, ListOf)
    item = opt.constraint.item if is_list else opt.constraint
    if action == "boolean" or bad is None or isinstance(bad, bool) or isinstance(bad, list) != is_list:
        return
    values = bad if is_list else [bad]
    if any(not isinstance(v, (str, int, float)) or isinstance(v, bool) for v in values):
        return
    if isinstance(item, (Text, ExistingPath)) and not all(isinstance(v, str) for v in values):
        return  # the CLI has only strings: the number 3 typed there is the name "3"
    argv = ["score", "--demo", "-o", str(tmp_path / "o"), "--metrics", family, "-q"]
    for v in values:
        argv += [opt.flag, str(v)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    cli_msg = err.removeprefix("fastmetrics: error: ").strip()
    # the same rule, the same message (the CLI sees the value as the string it was typed as)
    assert cli_msg.split(": got ")[0] == msg.split(": got ")[0]
    assert cli_msg.split("; expected ")[-1] == msg.split("; expected ")[-1]
    assert not (tmp_path / "o" / "turns.parquet").exists()


@pytest.mark.parametrize("name", sorted(registry.all_options()))
def test_an_option_of_a_family_not_in_the_run_is_an_error(name):
    opt = registry.all_options()[name]
    owners = registry.option_owners()[name]
    others = [f for f in FAMILIES if f not in owners and f != "basic"
              and not set(registry.get(f).after) & set(owners)]
    run = others[0] if others else "basic"
    if any(name in {o.name for o in registry.get(f.name).options} for f in registry.resolve(["basic", run])):
        pytest.skip(f"every family pulls in an owner of {name}")
    with pytest.raises(fm.InputError, match=f"option {name} .* used by the"):
        fm.score(fm.api.demo_path(), metrics=[run], **{name: opt.default})


def test_backend_names_come_from_the_registry():
    import inspect

    assert set(backends.CHOICES) == {"auto", *backends.BACKENDS}
    for op, spec in backends.OPERATIONS.items():
        assert "numba" in spec.backends, f"{op} has no Numba implementation"
        for b in spec.backends:
            impl = backends.resolve(b, op) if backends.available(b) else None
            if impl is not None:  # same name and signature on every available backend
                ref = backends.resolve("numba", op).fn
                assert impl.fn.__name__ == ref.__name__ == op
                assert list(inspect.signature(impl.fn).parameters) == list(inspect.signature(ref).parameters)


def test_unavailable_backend_is_a_one_line_error(tmp_path, capsys):
    for b in backends.BACKENDS:
        reason = backends.why_not(b)
        if reason is None:
            continue
        with pytest.raises(fm.BackendUnavailableError, match="unavailable"):
            fm.score(fm.api.demo_path(), backend=b)
        for family in FAMILIES:
            assert main(["score", "--demo", "-o", str(tmp_path / family), "--metrics", family,
                         "--backend", b, "-q"]) == 2
            err = capsys.readouterr().err
            assert err.count("\n") == 1 and reason in err
