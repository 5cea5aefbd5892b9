"""Single-turn comparison of two replies to the same context (e.g. a human's and a model's).

Input: a table with one row per context and two reply columns, A and B (JSON list, JSON lines,
CSV/TSV or Parquet; or a pyarrow Table / pandas DataFrame / list of dicts), e.g. the
``results.json`` of Kang et al. (ACL 2024): ``context``, ``res_gold`` (the human supporter's
reply), ``res_pred`` (an LLM's reply).

Context (``context_format``):

* ``esconv``: the dialogue so far as text in ``supporter`` / ``seeker`` blocks, each utterance
  on a ``- Utterance:`` line (``- Strategy:`` lines are ignored). The client context of the
  reply is the seeker utterances after the last supporter block, joined by newlines, as
  :func:`fastmetrics.metrics.empathy.family.client_context` defines it for a conversation
  (role names ``seeker``/``client``/``usr``/``speaker`` and ``supporter``/``therapist``/
  ``sys``/``listener`` are recognised, case-insensitively);
* ``plain``: the context text as it is is the client context;
* ``auto`` (default): ``esconv`` for every row whose context has a role line and a
  ``- Utterance:`` line, ``plain`` for the others (the counts are in ``summary.json``).

The last client turn is the last seeker utterance (``esconv``) or the last non-empty line of
the client context (``plain``).

Per pair and per side (columns ``<score>_<label>`` of ``pairs.parquet``):

* ``empathy_er``, ``empathy_ip``, ``empathy_ex``: expected EPITOME level (0-2) of the trained
  empathy model (:mod:`fastmetrics.models.empathy`; required) given the client context;
  ``empathy_mean`` their mean;
* ``bolt_label``: the shipped BOLT classifier's therapist behaviour of the reply
  (:mod:`fastmetrics.models.bolt`) and ``behaviour``, its category
  (:data:`fastmetrics.models.bolt.TO_BEHAVIOUR`).

Per pair: ``valence_last`` (VADER compound valence of the last client turn,
:func:`fastmetrics.emotion.valence`) and ``negative`` (``valence_last <= neg_threshold``, by
default the behaviour family's :data:`~fastmetrics.metrics.behaviour.NEG_THRESHOLD`, -0.05).

A pair whose A or B reply is missing or blank is not scored (``excluded`` names the side) and
is left out of the statistics; ``on_empty="fail"`` makes it an error instead.

Paired statistics (over the scored pairs, B minus A):

* per empathy score: the mean of each side, the mean difference, its percentile bootstrap CI
  (pairs resampled with replacement, ``n_boot`` resamples drawn once from
  ``numpy.random.default_rng(seed)`` as ``integers(0, n, (n_boot, n))`` and shared by every
  statistic), the median difference, the share of pairs with B > A, and the Wilcoxon
  signed-rank test (``scipy.stats.wilcoxon(b - a)``, two-sided, zero differences dropped);
* per behaviour category the classifier gives (all but ``self_disclosure`` and ``other``): the
  rate of each side, the difference of rates with the bootstrap
  CI, and McNemar's exact test (a binomial test on the discordant pairs);
* the same for ``problem_solving`` and for solutions (:data:`SOLUTIONS`: problem-solving or
  planning), restricted to the pairs whose last client turn is negative.
"""
from __future__ import annotations

import json
import math
import re
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["CONTEXT_FORMATS", "SOLUTIONS", "parse_context", "client_context_of", "read_pairs_table",
           "paired_stats", "binary_stats", "bootstrap_indices", "compare_pairs", "write_outputs",
           "format_table"]

CONTEXT_FORMATS = ("auto", "esconv", "plain")
#: Behaviour categories counted as offering solutions (advice-like).
SOLUTIONS = ("problem_solving", "planning")
SCORES = ("empathy_er", "empathy_ip", "empathy_ex", "empathy_mean")

_SEEKER = {"seeker", "client", "usr", "user", "speaker", "help-seeker"}
_SUPPORTER = {"supporter", "therapist", "sys", "system", "listener", "counselor", "counsellor"}
_ROLE_LINE = re.compile(r"^\s*([A-Za-z-]+)\s*:?\s*$")
_FIELD = re.compile(r"^\s*-\s*([A-Za-z]+)\s*:\s?(.*)$")


# ------------------------------------------------------------------------------------------
# context
# ------------------------------------------------------------------------------------------
def _role_of(line: str) -> str | None:
    m = _ROLE_LINE.match(line)
    if not m:
        return None
    w = m.group(1).lower()
    return "seeker" if w in _SEEKER else "supporter" if w in _SUPPORTER else None


def looks_esconv(text: str | None) -> bool:
    """Whether a context is in the ``esconv`` text format (a role line and an utterance line)."""
    if not text:
        return False
    lines = text.splitlines()
    return any(_role_of(ln) for ln in lines) and any(
        (m := _FIELD.match(ln)) and m.group(1).lower() == "utterance" for ln in lines)


def parse_context(text: str | None) -> list[tuple[str, str]]:
    """The utterances of an ``esconv``-format context: a list of (role, utterance), role
    ``"seeker"`` or ``"supporter"``.

    A block starts at a line holding only a role name (optionally followed by ``:``); its
    ``- Utterance:`` line is the utterance, continued by the following lines that are neither a
    role line nor a ``- Field:`` line; ``- Strategy:`` and other fields are ignored. Text before
    the first role line is ignored.

    Examples
    --------
    >>> parse_context("supporter\\n- Strategy: Question\\n- Utterance: How are you?\\n"
    ...               "seeker\\n- Utterance: Not great.")
    [('supporter', 'How are you?'), ('seeker', 'Not great.')]
    """
    out: list[list] = []
    role = None
    in_utt = False
    for line in (text or "").splitlines():
        r = _role_of(line)
        if r is not None:
            role, in_utt = r, False
            continue
        m = _FIELD.match(line)
        if m:
            in_utt = False
            if role is not None and m.group(1).lower() == "utterance":
                out.append([role, m.group(2).strip()])
                in_utt = True
            continue
        if in_utt and line.strip():
            out[-1][1] = (out[-1][1] + " " + line.strip()).strip()
    return [(r, u) for r, u in out]


def client_context_of(text: str | None, context_format: str = "auto") -> tuple[str, str, str]:
    """(client context, last client turn, format used) of one context.

    ``esconv``: the seeker utterances after the last supporter utterance, joined by newlines
    ("" when the context ends with a supporter utterance), and the last of them. ``plain``: the
    text itself and its last non-empty line. ``auto``: ``esconv`` when :func:`looks_esconv`,
    else ``plain``.
    """
    if context_format not in CONTEXT_FORMATS:
        raise InputError(f"context_format must be one of {', '.join(CONTEXT_FORMATS)}, got {context_format!r}")
    text = text or ""
    fmt = context_format
    if fmt == "auto":
        fmt = "esconv" if looks_esconv(text) else "plain"
    if fmt == "plain":
        lines = [ln.strip() for ln in text.splitlines() if ln.strip()]
        return text.strip(), (lines[-1] if lines else ""), "plain"
    utts = parse_context(text)
    buf: list[str] = []
    for role, u in utts:
        if role == "supporter":
            buf = []
        elif u:
            buf.append(u)
    return "\n".join(buf), (buf[-1] if buf else ""), "esconv"


# ------------------------------------------------------------------------------------------
# input
# ------------------------------------------------------------------------------------------
def _str(v) -> str | None:
    if v is None:
        return None
    if isinstance(v, float) and math.isnan(v):
        return None
    return v if isinstance(v, str) else str(v)


def read_pairs_table(data) -> tuple[dict[str, list], str]:
    """Columns (name -> list of values) and a source name from a file (JSON list of objects,
    JSON lines, CSV/TSV, Parquet; format from the name / contents as
    :func:`fastmetrics.io.detect_format` tells it), a pyarrow Table, a pandas DataFrame, a
    dict of columns or a list of dicts."""
    import pyarrow as pa

    if isinstance(data, pa.Table):
        return {n: data.column(n).to_pylist() for n in data.column_names}, "table"
    if hasattr(data, "to_dict") and hasattr(data, "columns") and not isinstance(data, dict):
        return _records([dict(r) for r in data.to_dict(orient="records")], "table")
    if isinstance(data, dict):
        return {k: list(v) for k, v in data.items()}, "table"
    if isinstance(data, list):
        return _records(data, "table")
    from ..io.detect import detect_format

    path = Path(data)
    src = str(path)
    fmt = detect_format(path)
    if fmt in ("convokit", "esconv-json", "esconv-jsonl"):
        raise InputError(f"a {fmt} corpus of whole conversations; `pairs` reads one row per context "
                         "with two reply columns (JSON list, JSON lines, CSV, Parquet)", source=src)
    try:
        if fmt == "parquet":
            import pyarrow.parquet as pq

            t = pq.read_table(path)
            return {n: t.column(n).to_pylist() for n in t.column_names}, src
        if fmt in ("csv", "tsv"):
            import csv

            with open(path, newline="", encoding="utf-8-sig") as fh:
                rows = list(csv.DictReader(fh, delimiter="," if fmt == "csv" else "\t"))
            if not rows:
                raise InputError("no rows (a header and one row per context expected)", source=src)
            return _records([{k: (v if v != "" else None) for k, v in r.items()} for r in rows], src)
        if fmt == "json":
            with open(path, encoding="utf-8") as fh:
                obj = json.load(fh)
            if not isinstance(obj, list):
                raise InputError("expected a JSON list of objects", source=src)
            return _records(obj, src)
        records = []
        with open(path, encoding="utf-8") as fh:
            for i, line in enumerate(fh, start=1):
                if not line.strip():
                    continue
                try:
                    records.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(f"malformed JSON ({exc.msg}); expected one object per line",
                                     source=src, line=i) from None
        return _records(records, src)
    except UnicodeDecodeError as exc:
        raise InputError(f"not valid UTF-8 ({exc.reason})", source=src) from None
    except json.JSONDecodeError as exc:
        raise InputError(f"malformed JSON ({exc.msg} at line {exc.lineno})", source=src) from None
    except (OSError, pa.ArrowInvalid) as exc:
        raise InputError(f"cannot read it ({str(exc).splitlines()[0]})", source=src) from None


def _records(records: list, src: str) -> tuple[dict[str, list], str]:
    names: list[str] = []
    for i, r in enumerate(records):
        if not isinstance(r, dict):
            raise InputError(f"record {i + 1} is a {type(r).__name__}, expected an object", source=src)
        for k in r:
            if k not in names:
                names.append(k)
    return {n: [r.get(n) for r in records] for n in names}, src


def _labels(labels) -> tuple[str, str]:
    if isinstance(labels, str):
        labels = [s.strip() for s in labels.split(",")]
    labels = tuple(labels)
    if len(labels) != 2 or not all(labels) or labels[0] == labels[1]:
        raise InputError(f"labels must be two different names, e.g. human,llm; got {','.join(labels)!r}")
    for lab in labels:
        if not re.fullmatch(r"[A-Za-z0-9_-]+", lab):
            raise InputError(f"label {lab!r}: use letters, digits, '_' or '-' (it is part of column names)")
    return labels


# ------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------
def bootstrap_indices(n: int, n_boot: int, seed: int) -> np.ndarray:
    """(n_boot, n) int64 resample indices: ``default_rng(seed).integers(0, n, (n_boot, n))``."""
    return np.random.default_rng(seed).integers(0, n, (n_boot, n))


def _ci(boot: np.ndarray, alpha: float) -> tuple[float, float]:
    boot = boot[np.isfinite(boot)]
    if not len(boot):
        return float("nan"), float("nan")
    lo, hi = np.quantile(boot, [alpha / 2, 1 - alpha / 2])
    return float(lo), float(hi)


def paired_stats(a, b, *, idx: np.ndarray | None = None, n_boot: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> dict:
    """Paired comparison of two score arrays (B minus A; pairs with a NaN dropped first).

    Returns n, mean_a, mean_b, diff (mean of b - a), ci (percentile bootstrap), median_diff,
    share_b_greater, wilcoxon_statistic and wilcoxon_p (``scipy.stats.wilcoxon(b - a)``; NaN
    when every difference is zero or fewer than two pairs).
    """
    from scipy.stats import wilcoxon

    a, b = np.asarray(a, float), np.asarray(b, float)
    ok = np.isfinite(a) & np.isfinite(b)
    d = b - a
    n = int(ok.sum())
    out = {"n": n, "mean_a": float("nan"), "mean_b": float("nan"), "diff": float("nan"),
           "ci": [float("nan"), float("nan")], "median_diff": float("nan"),
           "share_b_greater": float("nan"), "wilcoxon_statistic": float("nan"), "wilcoxon_p": float("nan")}
    if n == 0:
        return out
    if idx is None or idx.shape[1] != n:
        idx = bootstrap_indices(n, n_boot, seed)
    a, b, d = a[ok], b[ok], d[ok]
    out.update(mean_a=float(a.mean()), mean_b=float(b.mean()), diff=float(d.mean()),
               ci=list(_ci(d[idx].mean(axis=1), alpha)), median_diff=float(np.median(d)),
               share_b_greater=float(np.mean(d > 0)))
    if n >= 2 and np.any(d != 0):
        w = wilcoxon(d)
        out.update(wilcoxon_statistic=float(w.statistic), wilcoxon_p=float(w.pvalue))
    return out


def binary_stats(a, b, *, idx: np.ndarray | None = None, n_boot: int = 2000, seed: int = 0,
                 alpha: float = 0.05) -> dict:
    """Paired comparison of two boolean arrays: n, rate_a, rate_b, diff (rate_b - rate_a), ci
    (percentile bootstrap of the difference), n_only_a / n_only_b (discordant pairs) and
    mcnemar_p (exact: two-sided binomial test of n_only_b among the discordant pairs; 1 when
    there is none)."""
    from scipy.stats import binomtest

    a, b = np.asarray(a, bool), np.asarray(b, bool)
    n = len(a)
    out = {"n": n, "rate_a": float("nan"), "rate_b": float("nan"), "diff": float("nan"),
           "ci": [float("nan"), float("nan")], "n_only_a": 0, "n_only_b": 0, "mcnemar_p": float("nan")}
    if n == 0:
        return out
    if idx is None or idx.shape[1] != n:
        idx = bootstrap_indices(n, n_boot, seed)
    d = b.astype(float) - a.astype(float)
    only_a, only_b = int(np.sum(a & ~b)), int(np.sum(b & ~a))
    out.update(rate_a=float(a.mean()), rate_b=float(b.mean()), diff=float(d.mean()),
               ci=list(_ci(d[idx].mean(axis=1), alpha)), n_only_a=only_a, n_only_b=only_b,
               mcnemar_p=float(binomtest(only_b, only_a + only_b, 0.5).pvalue) if only_a + only_b else 1.0)
    return out


def behaviour_stats(beh_a, beh_b, neg, cats, idx, idx_neg, alpha: float = 0.05) -> tuple[dict, dict]:
    """Behaviour profile of two label arrays (object, one per pair): per category in ``cats`` and
    for :data:`SOLUTIONS` the :func:`binary_stats` of "coded this"; and, over the pairs where
    ``neg``, those of ``problem_solving`` and of solutions."""
    beh_a, beh_b, neg = np.asarray(beh_a, dtype=object), np.asarray(beh_b, dtype=object), np.asarray(neg, bool)
    behaviour = {b: binary_stats(beh_a == b, beh_b == b, idx=idx, alpha=alpha) for b in cats}
    sol_a, sol_b = np.isin(beh_a, SOLUTIONS), np.isin(beh_b, SOLUTIONS)
    behaviour["solutions"] = binary_stats(sol_a, sol_b, idx=idx, alpha=alpha)
    negative = {
        "n": int(neg.sum()),
        "problem_solving": binary_stats(beh_a[neg] == "problem_solving", beh_b[neg] == "problem_solving",
                                        idx=idx_neg, alpha=alpha),
        "solutions": binary_stats(sol_a[neg], sol_b[neg], idx=idx_neg, alpha=alpha),
    }
    return behaviour, negative


# ------------------------------------------------------------------------------------------
# scoring
# ------------------------------------------------------------------------------------------
def _encoder_and_cache(model_dir, cache_dir, n_threads):
    from ..embed.cache import EmbeddingCache, resolve_cache_dir
    from ..embed.encoder import get_encoder

    enc = get_encoder(model_dir or None, n_threads=n_threads)
    root = resolve_cache_dir(cache_dir)
    return enc, (None if root is None else EmbeddingCache(root, enc.model_id, enc.dim))


def _load_empathy(empathy_model):
    from .empathy import EmpathyModel, default_empathy_dir, find_empathy_model

    path = find_empathy_model(empathy_model)
    if path is None:
        raise InputError(f"no trained empathy model found in {default_empathy_dir()}; train one with "
                         "`fastmetrics train empathy EPITOME_DIR` or pass --empathy-model DIR")
    return EmpathyModel.load(path)


def compare_pairs(table_or_path, context_column: str = "context", a_column: str = "a", b_column: str = "b",
                  labels=("a", "b"), *, empathy_model=None, context_format: str = "auto",
                  id_column: str | None = None, strategy_columns=None, n_boot: int = 2000, seed: int = 0,
                  alpha: float = 0.05,
                  neg_threshold: float | None = None, on_empty: str = "skip", model_dir=None,
                  cache_dir="", n_threads: int | None = None, out_dir=None) -> dict:
    """Score both replies of every pair and compare them (see the module docstring).

    Parameters
    ----------
    table_or_path : path, pyarrow.Table, pandas.DataFrame, dict of columns or list of dicts
    context_column, a_column, b_column : str
        Columns with the context and the two replies.
    labels : (str, str) or "A,B"
        Names of the two sides (used in column names and the summary).
    empathy_model : path, optional
        Trained empathy model folder (default: the user's model folder); required.
    context_format : {"auto", "esconv", "plain"}
    id_column : str, optional
        Column carried into ``pairs.parquet`` as ``id`` (default: ``sample_id`` or ``id`` when
        present).
    strategy_columns : (str, str) or "A_COL,B_COL", optional
        Columns with strategy labels of reply A and reply B (ESConv names, e.g. ``strg_gold``,
        ``strg_pred``): their BOLT categories
        (:data:`fastmetrics.metrics.behaviour.STRATEGY_TO_BOLT`) get the same profile as the
        classifier's, under ``"strategy"``, with the classifier's agreement with them.
    n_boot, seed, alpha : bootstrap resamples, seed, 1 - CI level.
    neg_threshold : float, optional
        Valence at or below which the last client turn is negative (default ``NEG_THRESHOLD``).
    on_empty : {"skip", "fail"}
        A missing or blank reply: leave the pair out (counted) or raise.
    model_dir, cache_dir, n_threads : the sentence encoder folder, embedding cache ("" default,
        "none": no cache) and encoder threads.
    out_dir : path, optional
        Write ``pairs.parquet``, ``summary.json`` and ``summary.md`` there.

    Returns
    -------
    dict: the summary (as ``summary.json``) with the per-pair table under ``"pairs"``
    (a pyarrow Table).
    """
    import pyarrow as pa

    from ..emotion import valence
    from ..metrics.behaviour import BEHAVIOURS, NEG_THRESHOLD
    from .bolt import TO_BEHAVIOUR, load_shipped
    from .linear import same_encoder

    la, lb = _labels(labels)
    if context_format not in CONTEXT_FORMATS:
        raise InputError(f"context format must be one of {', '.join(CONTEXT_FORMATS)}, got {context_format!r}")
    if on_empty not in ("skip", "fail"):
        raise InputError(f"on_empty must be 'skip' or 'fail', got {on_empty!r}")
    if n_boot < 1:
        raise InputError(f"n_boot must be at least 1, got {n_boot}")
    if not 0 < alpha < 1:
        raise InputError(f"alpha must be in (0, 1), got {alpha}")
    thr = NEG_THRESHOLD if neg_threshold is None else float(neg_threshold)
    cols, src = read_pairs_table(table_or_path)
    if isinstance(strategy_columns, str):
        strategy_columns = [c.strip() for c in strategy_columns.split(",")]
    if strategy_columns is not None:
        strategy_columns = tuple(strategy_columns)
        if len(strategy_columns) != 2 or not all(strategy_columns):
            raise InputError(f"strategy columns: two column names A_COL,B_COL, got {','.join(strategy_columns)!r}")
    missing = [c for c in (context_column, a_column, b_column, id_column, *(strategy_columns or ()))
               if c and c not in cols]
    if missing:
        raise InputError(f"no column {', '.join(repr(c) for c in missing)}; columns: "
                         f"{', '.join(cols) or '(none)'}", source=src)
    if id_column is None:
        id_column = next((c for c in ("sample_id", "id") if c in cols), None)
    n_rows = len(cols[context_column])
    if n_rows == 0:
        raise InputError("no rows", source=src)
    model = _load_empathy(empathy_model)
    clf = load_shipped()
    enc, cache = _encoder_and_cache(model_dir, cache_dir, n_threads)
    if not same_encoder(model.encoder_model_id, enc.model_id):
        raise InputError(f"empathy model {model.path}: trained on encoder {model.encoder_model_id!r}, "
                         f"this run encodes with {enc.model_id!r}")
    if not same_encoder(clf.manifest["encoder_model_id"], enc.model_id):
        raise InputError(f"the BOLT classifier reads {clf.manifest['encoder_model_id']!r} embeddings, "
                         f"this run encodes with {enc.model_id!r}")

    ctx_raw = [_str(v) for v in cols[context_column]]
    ra = [_str(v) for v in cols[a_column]]
    rb = [_str(v) for v in cols[b_column]]
    excluded: list[str | None] = []
    for i, (x, y) in enumerate(zip(ra, rb)):
        ea, eb = not (x and x.strip()), not (y and y.strip())
        why = "both" if ea and eb else la if ea else lb if eb else None
        if why and on_empty == "fail":
            raise InputError(f"row {i + 1}: empty or missing reply ({a_column if ea else b_column}); "
                             "use --on-empty skip to leave such pairs out", source=src)
        excluded.append(why)
    parsed = [client_context_of(c, context_format) for c in ctx_raw]
    cctx = [p[0] for p in parsed]
    last = [p[1] for p in parsed]
    fmts = [p[2] for p in parsed]
    keep = np.array([e is None for e in excluded])
    ki = np.flatnonzero(keep)
    n = len(ki)

    from ..embed.api import cached_encode

    ct = [cctx[i] for i in ki]
    ta = [ra[i].strip() for i in ki]
    tb = [rb[i].strip() for i in ki]
    emb = cached_encode(enc, ct + ta + tb, cache)
    ce, ea_, eb_ = emb[:n], emb[n:2 * n], emb[2 * n:]
    scores = {}
    for lab, e, t in ((la, ea_, ta), (lb, eb_, tb)):
        lv = model.expected_levels(ce, e, ct, t) if n else {m: np.zeros(0) for m in ("er", "ip", "ex")}
        for m in ("er", "ip", "ex"):
            col = np.full(n_rows, np.nan)
            col[ki] = lv[m]
            scores[f"empathy_{m}_{lab}"] = col
        scores[f"empathy_mean_{lab}"] = (scores[f"empathy_er_{lab}"] + scores[f"empathy_ip_{lab}"]
                                         + scores[f"empathy_ex_{lab}"]) / 3
        bolt = clf.predict(e, t, "therapist") if n else []
        lab_col: list[str | None] = [None] * n_rows
        beh_col: list[str | None] = [None] * n_rows
        for j, i in enumerate(ki):
            lab_col[i] = bolt[j]
            beh_col[i] = TO_BEHAVIOUR[bolt[j]]
        scores[f"bolt_label_{lab}"] = lab_col
        scores[f"behaviour_{lab}"] = beh_col
    val = valence(last)
    val = np.where(np.array([bool(s) for s in last]), val, np.nan)
    neg = np.asarray(val <= thr)  # NaN compares False

    idx = bootstrap_indices(n, n_boot, seed) if n else None
    mech = {s: paired_stats(scores[f"{s}_{la}"][ki], scores[f"{s}_{lb}"][ki], idx=idx, alpha=alpha)
            for s in SCORES}
    beh_a = np.array([scores[f"behaviour_{la}"][i] for i in ki], dtype=object)
    beh_b = np.array([scores[f"behaviour_{lb}"][i] for i in ki], dtype=object)
    # the categories the classifier can give (not self_disclosure / other, ESConv-only codes)
    cats = [b for b in BEHAVIOURS if b in set(TO_BEHAVIOUR.values())]
    nk = neg[ki]
    n_neg = int(nk.sum())
    idx_neg = bootstrap_indices(n_neg, n_boot, seed) if n_neg else None
    behaviour, negative = behaviour_stats(beh_a, beh_b, nk, cats, idx, idx_neg, alpha)
    negative.update(share_of_pairs=float(nk.mean()) if n else float("nan"), threshold=thr)
    strategy = None
    if strategy_columns:
        from ..metrics.behaviour import map_strategies

        for lab, col in zip((la, lb), strategy_columns):
            codes, _ = map_strategies([_str(v) for v in cols[col]])
            scores[f"strategy_behaviour_{lab}"] = [BEHAVIOURS[c] if c >= 0 else None for c in codes.tolist()]
        sa = np.array([scores[f"strategy_behaviour_{la}"][i] for i in ki], dtype=object)
        sb = np.array([scores[f"strategy_behaviour_{lb}"][i] for i in ki], dtype=object)
        sb_, sn = behaviour_stats(sa, sb, nk, list(BEHAVIOURS), idx, idx_neg, alpha)
        strategy = {"columns": list(strategy_columns), "behaviour": sb_, "negative_disclosure": sn,
                    "agreement_with_classifier": {la: float(np.mean(sa == beh_a)) if n else float("nan"),
                                                  lb: float(np.mean(sb == beh_b)) if n else float("nan")}}
    table = {"row": pa.array(np.arange(n_rows), pa.int64())}
    if id_column:
        table["id"] = pa.array([_str(v) for v in cols[id_column]], pa.string())
    table.update({
        "context_format": pa.array(fmts, pa.string()),
        "client_context": pa.array(cctx, pa.string()),
        "last_client_turn": pa.array(last, pa.string()),
        "valence_last": pa.array(val, pa.float64(), from_pandas=True),
        "negative": pa.array(neg, pa.bool_()),
        "excluded": pa.array(excluded, pa.string()),
        f"reply_{la}": pa.array(ra, pa.string()),
        f"reply_{lb}": pa.array(rb, pa.string()),
    })
    for k, v in scores.items():
        table[k] = (pa.array(v, pa.float64(), from_pandas=True) if k.startswith("empathy")
                    else pa.array(v, pa.string()))
    tab = pa.table(table)
    summary = {
        "input": src, "labels": [la, lb], "columns": {"context": context_column, "a": a_column, "b": b_column,
                                                       "id": id_column},
        "n_rows": n_rows, "n_pairs": n,
        "excluded": {"total": int((~keep).sum()), la: excluded.count(la), lb: excluded.count(lb),
                     "both": excluded.count("both")},
        "context_format": {"requested": context_format, "esconv": fmts.count("esconv"), "plain": fmts.count("plain"),
                           "empty_client_context": int(sum(1 for i in ki if not cctx[i]))},
        "direction": f"{lb} minus {la}",
        "empathy_model": {"path": str(model.path), "description": model.describe(),
                          "cv": model.manifest.get("cv", {})},
        "behaviour_source": "BOLT classifier (fastmetrics/data/bolt_classifier; BSD-3-Clause), "
                            "therapist head, mapped with fastmetrics.models.bolt.TO_BEHAVIOUR",
        "encoder": enc.model_id, "n_boot": n_boot, "seed": seed, "alpha": alpha,
        "empathy": mech, "behaviour": behaviour, "negative_disclosure": negative,
        "strategy": strategy,
        "solutions": list(SOLUTIONS),
    }
    if out_dir is not None:
        write_outputs(summary, tab, out_dir)
    return {**summary, "pairs": tab}


# ------------------------------------------------------------------------------------------
# output
# ------------------------------------------------------------------------------------------
def _clean(o):
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    if isinstance(o, float) and not math.isfinite(o):
        return None
    return o


def _f(x, nd=3) -> str:
    return "-" if x is None or (isinstance(x, float) and not math.isfinite(x)) else f"{x:.{nd}f}"


def _p(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.2g}" if x >= 1e-4 else f"{x:.1e}"


def format_table(summary: dict, markdown: bool = False) -> str:
    """The summary as a compact text (or markdown) table."""
    la, lb = summary["labels"]
    pct = int(round(100 * (1 - summary["alpha"])))
    rows = [["empathy", "n", la, lb, f"{lb}-{la}", f"{pct}% CI", "Wilcoxon p"]]
    for s, r in summary["empathy"].items():
        rows.append([s, str(r["n"]), _f(r["mean_a"]), _f(r["mean_b"]), _f(r["diff"]),
                     f"[{_f(r['ci'][0])}, {_f(r['ci'][1])}]", _p(r["wilcoxon_p"])])

    def beh_rows(title, beh, neg):
        rs = [[title, "n", la, lb, f"{lb}-{la}", f"{pct}% CI", "McNemar p"]]
        items = list(beh.items()) + [(f"{k} | negative", neg[k]) for k in ("problem_solving", "solutions")]
        for b, r in items:
            rs.append([b, str(r["n"]), _f(r["rate_a"]), _f(r["rate_b"]), _f(r["diff"]),
                       f"[{_f(r['ci'][0])}, {_f(r['ci'][1])}]", _p(r["mcnemar_p"])])
        return rs

    tables = [rows, beh_rows("behaviour (rate)", summary["behaviour"], summary["negative_disclosure"])]
    st = summary.get("strategy")
    if st:
        tables.append(beh_rows("strategy behaviour (rate)", st["behaviour"], st["negative_disclosure"]))

    def render(rs):
        if markdown:
            lines = ["| " + " | ".join(rs[0]) + " |", "|" + "---|" * len(rs[0])]
            lines += ["| " + " | ".join(r) + " |" for r in rs[1:]]
            return "\n".join(lines)
        w = [max(len(r[j]) for r in rs) for j in range(len(rs[0]))]
        return "\n".join("  ".join(c.ljust(w[j]) if j == 0 else c.rjust(w[j]) for j, c in enumerate(r))
                         for r in rs)

    return "\n\n".join(render(t) for t in tables)


def write_outputs(summary: dict, table, out_dir) -> dict[str, Path]:
    """Write ``pairs.parquet``, ``summary.json`` and ``summary.md`` into ``out_dir``."""
    import pyarrow.parquet as pq

    out = Path(out_dir)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create the output folder {out} ({exc.strerror})") from None
    files = {"pairs": out / "pairs.parquet", "summary": out / "summary.json", "markdown": out / "summary.md"}
    pq.write_table(table, files["pairs"])
    files["summary"].write_text(json.dumps(_clean(summary), indent=1), encoding="utf-8")
    la, lb = summary["labels"]
    neg = summary["negative_disclosure"]
    md = [f"# {lb} vs {la}: single-turn comparison", "",
          f"Input `{summary['input']}`: {summary['n_rows']} rows, {summary['n_pairs']} scored pairs "
          f"({summary['excluded']['total']} left out for an empty reply). Differences are {lb} minus {la}; "
          f"{int(round(100 * (1 - summary['alpha'])))}% paired percentile bootstrap CIs "
          f"({summary['n_boot']} resamples, seed {summary['seed']}).", "",
          f"Empathy: {summary['empathy_model']['description']}. Expected level 0-2.", "",
          f"Behaviour: {summary['behaviour_source']}. `solutions` = {' or '.join(summary['solutions'])}; "
          f"`| negative` rows: the {neg['n']} pairs whose last client turn has VADER valence <= "
          f"{neg['threshold']}."]
    st = summary.get("strategy")
    if st:
        ag = st["agreement_with_classifier"]
        md += ["", f"Strategy behaviour: the strategy labels of `{st['columns'][0]}` and `{st['columns'][1]}` "
               "mapped to BOLT categories (fastmetrics.metrics.behaviour.STRATEGY_TO_BOLT); the classifier "
               f"agrees with them on {ag[la]:.0%} ({la}) and {ag[lb]:.0%} ({lb}) of the pairs."]
    md += ["", format_table(summary, markdown=True), ""]
    files["markdown"].write_text("\n".join(md), encoding="utf-8")
    return files
