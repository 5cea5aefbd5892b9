"""Group comparison of two scored corpora (or two groups of one): ``fastmetrics compare``.

For every metric — the conversation columns declared by the families of the run, and every
per-turn column declared by a family aggregated as the conversation's mean of its finite values
(named ``<column>`` with level ``turn mean``) — the difference B − A of the group means with:

* a **conversation-level bootstrap CI**: the conversations of each group are resampled with
  replacement, within their group; NaN and ±inf values are missing (draw order:
  ``rng.integers(0, n_A, (n_boot, n_A))`` then ``rng.integers(0, n_B, (n_boot, n_B))`` from
  ``numpy.random.default_rng(seed)``; the same resamples serve every metric), percentile interval;
* a **length-adjusted** difference ("adj."): the coefficient of the group indicator (B = 1) in
  the OLS fit ``y ~ 1 + group + n_turns``, with the bootstrap CI of that coefficient over the
  same resamples;
* optionally (``match_length``) a **length-matched** difference: each conversation of the
  smaller group is paired with the conversation of the other group nearest in ``n_turns``
  (with replacement; ties to the first in input order), the difference is the mean of the
  paired differences (B − A), with a bootstrap CI over the pairs.

The **entrainment gap** follows Kian et al. (NAACL Findings 2025) and Kwon et al. (EMNLP 2025),
who measure the supporter's local entrainment (LE) to the client by nCLiD over the next k
utterances: LE of a group is the group mean of ``nclid_therapist_to_client`` (the therapist
adapting to the client; lower = more entrainment), or, when nCLiD was not scored, of the first
present of the approximate nCLiD columns, ``rlsm_therapist`` and ``lsm_prev_mean`` (higher =
more). The gap is |LE_A − LE_B| with the bootstrap CI of the same resamples; ``le_column`` and
``le_lower_is_more`` say which column and direction were used.

The **single-turn empathy gap** (``empathy_er``/``_ip``/``_ex``/``empathy`` when present, else the
``empathy_proto*`` or ``empathy_onnx*`` columns; turn means) is shown next to the multi-turn
relational gaps (nCLiD, LSM, rLSM, coordination, alliance convergence, embedding synchrony) in
one table and one figure of standardised differences (difference / pooled SD): a model that
"wins the exchange and loses the relationship" has its empathy rows right of zero and its
relational rows on the side of less synchrony.
"""
from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from ..errors import InputError

__all__ = ["read_scored", "conversation_metrics", "bootstrap_diff", "ols_group_effect",
           "match_on_length", "compare", "compare_groups", "RELATIONAL", "SINGLE_TURN"]

RELATIONAL = re.compile(r"^([nu]clid|lsm|rlsm|coordination|alliance_\w+_(convergence|gap_mean)|"
                        r"emb_sync_lag|emb_sim)")
SINGLE_TURN = re.compile(r"^empathy(_(er|ip|ex))?$|^empathy_(proto|onnx)")
_SKIP_SUFFIX = ("_surrogate_mean", "_surrogate_sd", "_p")
LE_COLUMNS = (("nclid_therapist_to_client", True), ("nclid_therapist_to_client_rwmd", True),
              ("nclid_therapist_to_client_wcd", True), ("nclid_therapist_to_client_sinkhorn", True),
              ("rlsm_therapist", False), ("lsm_prev_mean", False))


# ------------------------------------------------------------------------------------------
# reading
# ------------------------------------------------------------------------------------------
def _read_table(d: Path, stem: str):
    import pyarrow.parquet as pq

    f, folder = d / f"{stem}.parquet", d / stem
    try:
        if f.is_file():
            return pq.read_table(f)
        if folder.is_dir() and any(folder.glob("*.parquet")):
            return pq.read_table(folder)
    except Exception as e:  # a corrupt file: one line
        raise InputError(f"{str(f if f.exists() else folder)!r}: not readable as Parquet ({e})") from None
    raise InputError(f"{str(d)!r} holds neither {stem}.parquet nor {stem}/part-*.parquet; a scored "
                     "folder is written by `fastmetrics score -o FOLDER`")


def read_scored(folder):
    """(turns, conversations, metadata) of a folder written by ``fastmetrics score`` (either layout)."""
    import pyarrow.parquet as pq

    d = Path(folder)
    if not d.is_dir():
        raise InputError(f"scored folder {str(d)!r} does not exist; run `fastmetrics score -o {d}` first")
    convs = _read_table(d, "conversations")
    turns = _read_table(d, "turns")
    meta = {k.decode(): v.decode() for k, v in (convs.schema.metadata or {}).items()}
    if "fastmetrics.metrics" not in meta:
        files = [d / "conversations.parquet", *sorted((d / "conversations").glob("*.parquet"))]
        for f in files:
            if f.is_file():
                md = pq.read_schema(f).metadata or {}
                meta = {k.decode(): v.decode() for k, v in md.items()}
                break
    for name, t, need in (("conversations", convs, ("conversation_id", "n_turns")),
                          ("turns", turns, ("conversation_id",))):
        miss = [c for c in need if c not in t.column_names]
        if miss:
            raise InputError(f"{str(d)!r}: {name} table lacks column {miss[0]!r}")
    return turns, convs, meta


def _declared(meta: dict):
    from .. import registry

    fams = []
    for n in (meta.get("fastmetrics.metrics") or "").split(","):
        n = n.strip()
        if n:
            try:
                fams.append(registry.get(n))
            except InputError:
                pass
    if not fams:
        fams = [registry.get(n) for n in registry.names()]
    return fams


def conversation_metrics(turns, convs, meta) -> tuple[dict, dict, np.ndarray]:
    """metric -> float64 per conversation (in ``convs`` order), metric -> level, n_turns."""
    import pyarrow as pa
    import pyarrow.compute as pc

    fams = _declared(meta)
    out, level = {}, {}
    for name in convs.column_names:
        if name.endswith(_SKIP_SUFFIX) or not any(f.declares(name, "conversation") for f in fams):
            continue
        col = convs.column(name)
        if pa.types.is_floating(col.type) or pa.types.is_integer(col.type):
            out[name] = np.asarray(col.to_numpy(zero_copy_only=False), dtype=float)
            level[name] = "conversation"
    # a per-turn column whose conversation mean is already a column (lsm_prev_mean) is skipped
    tcols = [n for n in turns.column_names
             if n not in out and f"{n}_mean" not in out and any(f.declares(n, "turn") for f in fams)
             and (pa.types.is_floating(turns.schema.field(n).type) or pa.types.is_integer(turns.schema.field(n).type))
             and n not in ("n_tokens", "n_types")]
    if tcols:
        cid = turns.column("conversation_id")
        ids = convs.column("conversation_id")
        idx = pc.index_in(cid, value_set=ids).to_numpy(zero_copy_only=False)
        ok_row = ~np.isnan(np.asarray(idx, dtype=float))
        pos = np.asarray(np.where(ok_row, idx, 0), dtype=np.int64)
        n_conv = convs.num_rows
        for name in tcols:
            x = np.asarray(turns.column(name).to_numpy(zero_copy_only=False), dtype=float)
            ok = ok_row & np.isfinite(x)
            s = np.bincount(pos[ok], weights=x[ok], minlength=n_conv)
            n = np.bincount(pos[ok], minlength=n_conv)
            with np.errstate(invalid="ignore", divide="ignore"):
                out[name] = np.where(n > 0, s / np.maximum(n, 1), np.nan)
            level[name] = "turn mean"
    n_turns = np.asarray(convs.column("n_turns").to_numpy(zero_copy_only=False), dtype=float)
    return out, level, n_turns


# ------------------------------------------------------------------------------------------
# statistics
# ------------------------------------------------------------------------------------------
def _resamples(n_a: int, n_b: int, n_boot: int, seed: int):
    rng = np.random.default_rng(seed)
    return rng.integers(0, n_a, (n_boot, n_a)), rng.integers(0, n_b, (n_boot, n_b))


def _fmean(x) -> float:
    """Mean of the finite values (NaN and ±inf are missing); NaN when there are none."""
    x = np.asarray(x, float)
    ok = np.isfinite(x)
    return float(x[ok].mean()) if ok.any() else float("nan")


def _fvar(x) -> tuple[float, int]:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return (float(x.var(ddof=1)) if len(x) > 1 else float("nan")), len(x)


def _nanmean_rows(x):
    ok = np.isfinite(x)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(ok, x, 0).sum(axis=-1) / ok.sum(axis=-1)


def bootstrap_diff(a, b, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05, resamples=None):
    """(mean(b) − mean(a), lo, hi): the percentile bootstrap CI, conversations resampled within
    each group (NaNs dropped after resampling; see the module docstring for the draw order)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    ia, ib = resamples if resamples is not None else _resamples(len(a), len(b), n_boot, seed)
    d = _nanmean_rows(b[ib]) - _nanmean_rows(a[ia])
    est = _fmean(b) - _fmean(a)
    d = d[np.isfinite(d)]
    if not len(d):
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(d, [alpha / 2, 1 - alpha / 2])
    return est, float(lo), float(hi)


def _ols_batch(y, g, n):
    """Group coefficient of y ~ 1 + g + n per row of (B, m) arrays (NaN rows of y dropped)."""
    ok = np.isfinite(y)
    w = ok.astype(float)
    # the group coefficient does not change under an affine map of n_turns: standardise it so
    # that the singularity test below is scale-free
    n = np.asarray(n, float)
    n = (n - n.mean()) / (n.std() if n.std() > 0 else 1.0)
    X = np.stack([w, g * w, n * w], axis=-1)  # (B, m, 3)
    yy = np.where(ok, y, 0.0)
    XtX = np.einsum("bmi,bmj->bij", X, X)
    Xty = np.einsum("bmi,bm->bi", X, yy)
    # a resample whose lengths are all equal: y ~ 1 + group (the n_turns column dropped)
    with np.errstate(invalid="ignore", divide="ignore"):
        cnt = np.maximum(w.sum(axis=1), 1)
        var_n = (n * n * w).sum(axis=1) / cnt - ((n * w).sum(axis=1) / cnt) ** 2
    flat = var_n <= 1e-12 * np.maximum(1.0, ((n * w).sum(axis=1) / cnt) ** 2)
    if flat.any():
        XtX[flat, 2, :] = 0.0
        XtX[flat, :, 2] = 0.0
        XtX[flat, 2, 2] = 1.0
        Xty[flat, 2] = 0.0
    out = np.full(y.shape[0], np.nan)
    det = np.linalg.det(XtX)
    good = np.abs(det) > 1e-10 * np.maximum(1.0, w.sum(axis=1)) ** 3
    if good.any():
        out[good] = np.linalg.solve(XtX[good], Xty[good][..., None])[:, 1, 0]
    return out


def ols_group_effect(a, b, n_a, n_b, *, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
                     resamples=None):
    """(coefficient of group B in y ~ 1 + group + n_turns, lo, hi) with the bootstrap CI."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    n_a, n_b = np.asarray(n_a, float), np.asarray(n_b, float)
    y = np.concatenate([a, b])[None, :]
    g = np.r_[np.zeros(len(a)), np.ones(len(b))][None, :]
    n = np.concatenate([n_a, n_b])[None, :]
    est = float(_ols_batch(y, g, n)[0])
    ia, ib = resamples if resamples is not None else _resamples(len(a), len(b), n_boot, seed)
    yb = np.concatenate([a[ia], b[ib]], axis=1)
    nb = np.concatenate([n_a[ia], n_b[ib]], axis=1)
    gb = np.broadcast_to(g, yb.shape)
    coef = _ols_batch(yb, gb, nb)
    coef = coef[np.isfinite(coef)]
    if not len(coef):
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(coef, [alpha / 2, 1 - alpha / 2])
    return est, float(lo), float(hi)


def match_on_length(n_a, n_b) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (into A, into B): each conversation of the smaller group with the nearest
    in n_turns of the other group (with replacement; ties to the first)."""
    n_a, n_b = np.asarray(n_a, float), np.asarray(n_b, float)
    if len(n_a) <= len(n_b):
        j = np.abs(n_a[:, None] - n_b[None, :]).argmin(axis=1)
        return np.arange(len(n_a)), j
    i = np.abs(n_b[:, None] - n_a[None, :]).argmin(axis=1)
    return i, np.arange(len(n_b))


def _matched(a, b, pairs, n_boot, seed, alpha):
    d = np.asarray(b, float)[pairs[1]] - np.asarray(a, float)[pairs[0]]
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, len(d), (n_boot, len(d)))
    bs = _nanmean_rows(d[idx])
    bs = bs[np.isfinite(bs)]
    est = _fmean(d)
    if not len(bs):
        return est, float("nan"), float("nan")
    lo, hi = np.quantile(bs, [alpha / 2, 1 - alpha / 2])
    return est, float(lo), float(hi)


def _kind(name: str) -> str:
    if SINGLE_TURN.search(name):
        return "single-turn"
    if RELATIONAL.search(name):
        return "relational"
    return "other"


def _empathy_names(names) -> list[str]:
    prim = [n for n in ("empathy_er", "empathy_ip", "empathy_ex", "empathy") if n in names]
    return prim or [n for n in names if re.match(r"^empathy_(proto|onnx)", n)]


# ------------------------------------------------------------------------------------------
# the comparison
# ------------------------------------------------------------------------------------------
def compare_groups(groups: dict, labels: tuple[str, str], *, n_boot: int = 2000, seed: int = 0,
                   alpha: float = 0.05, match_length: bool = False, metrics=None) -> dict:
    """The comparison of two groups. ``groups``: label -> (metric -> values, level, n_turns)."""
    (ma, level, na), (mb, _, nb) = groups[labels[0]], groups[labels[1]]
    names = [n for n in ma if n in mb]
    if metrics:
        missing = [m for m in metrics if m not in names]
        if missing:
            raise InputError(f"metric {missing[0]!r} is not in both groups; shared metrics: "
                             f"{', '.join(names) or 'none'}")
        names = list(metrics)
    names = [n for n in names if np.isfinite(ma[n]).any() and np.isfinite(mb[n]).any()]
    if not names:
        raise InputError(f"groups {labels[0]!r} and {labels[1]!r} share no metric with values in both; "
                         "score both with the same --metrics")
    if len(na) < 2 or len(nb) < 2:
        raise InputError(f"each group needs at least 2 conversations; got {len(na)} ({labels[0]}) and "
                         f"{len(nb)} ({labels[1]})")
    res = _resamples(len(na), len(nb), n_boot, seed)
    pairs = match_on_length(na, nb) if match_length else None
    rows = []
    for n in names:
        a, b = ma[n], mb[n]
        d, lo, hi = bootstrap_diff(a, b, alpha=alpha, resamples=res)
        ad, alo, ahi = ols_group_effect(a, b, na, nb, alpha=alpha, resamples=res)
        (va, ka), (vb, kb) = _fvar(a), _fvar(b)
        sd = (float(np.sqrt((va * (ka - 1) + vb * (kb - 1)) / max(ka + kb - 2, 1)))
              if ka > 1 and kb > 1 else float("nan"))
        row = {"metric": n, "level": level[n], "kind": _kind(n),
               "n_a": int(np.isfinite(a).sum()), "n_b": int(np.isfinite(b).sum()),
               "mean_a": _fmean(a), "mean_b": _fmean(b),
               "diff": d, "ci": [lo, hi], "diff_adj": ad, "ci_adj": [alo, ahi], "pooled_sd": sd,
               "std_diff": d / sd if sd > 0 else float("nan"),
               "std_ci": [lo / sd, hi / sd] if sd > 0 else [float("nan")] * 2}
        if pairs is not None:
            md, mlo, mhi = _matched(a, b, pairs, n_boot, seed, alpha)
            row.update({"diff_matched": md, "ci_matched": [mlo, mhi]})
        rows.append(row)
    # entrainment gap
    le = next(((c, low) for c, low in LE_COLUMNS if c in names), None)
    ent = None
    if le is not None:
        a, b = ma[le[0]], mb[le[0]]
        ia, ib = res
        d, lo, hi = bootstrap_diff(a, b, alpha=alpha, resamples=res)
        lea, leb = _fmean(a), _fmean(b)
        more = labels[0] if (lea < leb) == le[1] else labels[1]
        # CI of |d| from the signed CI: [min |bound|, max |bound|], or [0, max] when it spans 0
        gap_ci = sorted([abs(lo), abs(hi)]) if lo * hi > 0 else [0.0, max(abs(lo), abs(hi))]
        ent = {"le_column": le[0], "le_lower_is_more": le[1], "le_a": lea, "le_b": leb,
               "diff": d, "diff_ci": [lo, hi], "gap": abs(d), "ci": gap_ci, "more_entrained": more}
    emp = _empathy_names(names)
    return {"labels": list(labels), "n_conversations": [int(len(na)), int(len(nb))],
            "mean_n_turns": [float(np.mean(na)), float(np.mean(nb))],
            "n_boot": n_boot, "seed": seed, "alpha": alpha, "match_length": bool(match_length),
            "difference": f"{labels[1]} minus {labels[0]}", "metrics": rows, "entrainment": ent,
            "empathy_columns": emp}


def compare(scored_a, scored_b=None, *, labels=None, group_column: str | None = None,
            out_dir=None, n_boot: int = 2000, seed: int = 0, alpha: float = 0.05,
            match_length: bool = False, metrics=None, report: bool = True) -> dict:
    """Compare two scored folders (``scored_a``, ``scored_b``) or the two groups of
    ``group_column`` in one; write ``results.json``, ``compare.png`` and ``index.html`` to
    ``out_dir`` when given. Returns the results dict (see :func:`compare_groups`)."""
    if isinstance(labels, str):
        labels = [x.strip() for x in labels.split(",")]
    if labels is not None and (len(labels) != 2 or not all(labels) or labels[0] == labels[1]):
        raise InputError(f"--labels takes two different names separated by a comma, got {','.join(labels)!r}")
    if n_boot < 100:
        raise InputError(f"--n-boot must be >= 100, got {n_boot}")
    if not 0 < alpha < 1:
        raise InputError(f"--alpha must be in (0, 1), got {alpha}")
    if scored_b is not None:
        if group_column:
            raise InputError("give either two scored folders or one with --group-column, not both")
        labels = tuple(labels or ("A", "B"))
        groups = {}
        for lab, folder in zip(labels, (scored_a, scored_b)):
            groups[lab] = conversation_metrics(*read_scored(folder))
    else:
        if not group_column:
            raise InputError("give two scored folders, or one scored folder and --group-column COL")
        turns, convs, meta = read_scored(scored_a)
        if group_column not in convs.column_names:
            raise InputError(f"group column {group_column!r} is not a conversation column of "
                             f"{str(scored_a)!r}; conversation columns: {', '.join(convs.column_names)}")
        vals = [None if v is None else str(v) for v in convs.column(group_column).to_pylist()]
        present = sorted({v for v in vals if v is not None})
        if len(present) != 2:
            raise InputError(f"group column {group_column!r} must have exactly 2 values; it has "
                             f"{len(present)}: {', '.join(present[:8])}")
        labels = tuple(labels or present)
        if set(labels) != set(present):
            raise InputError(f"--labels {','.join(labels)} do not match the values of {group_column!r}: "
                             f"{', '.join(present)}")
        m, level, n = conversation_metrics(turns, convs, meta)
        groups = {}
        for lab in labels:
            sel = np.array([v == lab for v in vals])
            groups[lab] = ({k: v[sel] for k, v in m.items()}, level, n[sel])
    res = compare_groups(groups, labels, n_boot=n_boot, seed=seed, alpha=alpha,
                         match_length=match_length, metrics=metrics)
    if out_dir is not None:
        _write(res, Path(out_dir), report)
    return res


# ------------------------------------------------------------------------------------------
# outputs
# ------------------------------------------------------------------------------------------
def _clean(o):
    if isinstance(o, float):
        return o if np.isfinite(o) else None
    if isinstance(o, dict):
        return {k: _clean(v) for k, v in o.items()}
    if isinstance(o, (list, tuple)):
        return [_clean(v) for v in o]
    return o


def _figure_rows(res):
    emp = res["empathy_columns"]
    rows = [r for r in res["metrics"] if r["metric"] in emp]
    rows += [r for r in res["metrics"] if r["kind"] == "relational" and r["metric"] not in emp
             and not r["metric"].endswith("_z")]
    return rows


def _plot(res, path: Path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = _figure_rows(res)
    fig, ax = plt.subplots(figsize=(7.5, 0.32 * max(len(rows), 3) + 1.6))
    colours = {"single-turn": "#1f77b4", "relational": "#d62728", "other": "#7f7f7f"}
    for i, r in enumerate(rows):
        y = len(rows) - 1 - i
        lo, hi = r["std_ci"]
        ax.plot([lo, hi], [y, y], color=colours[r["kind"]], lw=2)
        ax.plot(r["std_diff"], y, "o", color=colours[r["kind"]])
    ax.axvline(0, color="black", lw=0.8)
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([r["metric"] + (" (turn mean)" if r["level"] == "turn mean" else "")
                        for r in reversed(rows)], fontsize=8)
    a, b = res["labels"]
    ax.set_xlabel(f"standardised difference, {b} minus {a}\n(difference / pooled SD, "
                  f"{int(100 * (1 - res['alpha']))}% bootstrap CI; nCLiD: lower = more entrainment)", fontsize=9)
    ax.set_title("single-turn empathy (blue) next to multi-turn relational measures (red)", fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=120)
    plt.close(fig)


def _fmt(x):
    return "" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{x:.4g}"


def _write(res, out: Path, report: bool):
    import html

    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps(_clean(res), indent=1))
    if not report:
        return
    _plot(res, out / "compare.png")
    a, b = res["labels"]
    head = ["metric", "kind", "level", f"mean {a}", f"mean {b}", f"{b} − {a}", "CI",
            "adj. (n_turns)", "CI adj."] + (["matched", "CI matched"] if res["match_length"] else [])
    body = []
    for r in res["metrics"]:
        cells = [r["metric"], r["kind"], r["level"], _fmt(r["mean_a"]), _fmt(r["mean_b"]), _fmt(r["diff"]),
                 f"[{_fmt(r['ci'][0])}, {_fmt(r['ci'][1])}]", _fmt(r["diff_adj"]),
                 f"[{_fmt(r['ci_adj'][0])}, {_fmt(r['ci_adj'][1])}]"]
        if res["match_length"]:
            cells += [_fmt(r["diff_matched"]), f"[{_fmt(r['ci_matched'][0])}, {_fmt(r['ci_matched'][1])}]"]
        body.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in cells) + "</tr>")
    ent = res["entrainment"]
    ent_html = ("<p>No entrainment column (nCLiD, rLSM or LSM per turn) in both groups.</p>" if ent is None else
                f"<p><b>Entrainment gap</b> |LE<sub>{html.escape(a)}</sub> − LE<sub>{html.escape(b)}</sub>| = "
                f"{_fmt(ent['gap'])} [{_fmt(ent['ci'][0])}, {_fmt(ent['ci'][1])}] on <code>{ent['le_column']}</code> "
                f"({'lower' if ent['le_lower_is_more'] else 'higher'} = more entrainment); more entrained: "
                f"<b>{html.escape(ent['more_entrained'])}</b>.</p>")
    ea, eb = html.escape(a), html.escape(b)
    left_cols = "td:first-child,td:nth-child(2),td:nth-child(3)"
    pct = int(100 * (1 - res["alpha"]))
    page = f"""<!doctype html><html lang="en"><head><meta charset="utf-8"><title>fastmetrics compare</title>
<style>body{{font-family:sans-serif;max-width:1100px;margin:2em auto}}table{{border-collapse:collapse;font-size:13px}}
td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}{left_cols}{{text-align:left}}</style>
</head><body><h1>{eb} vs {ea}</h1>
<p>{res['n_conversations'][0]} conversations ({ea}, mean {res['mean_n_turns'][0]:.1f} turns) and
{res['n_conversations'][1]} ({eb}, mean {res['mean_n_turns'][1]:.1f} turns). Differences are {eb} minus
{ea}, with {pct}% conversation-level bootstrap CIs ({res['n_boot']} resamples, seed {res['seed']}).
"adj." is the group coefficient of y ~ 1 + group + n_turns (OLS), i.e. the difference at equal length.</p>
{ent_html}
<img src="compare.png" alt="standardised differences of single-turn empathy and relational measures">
<table><thead><tr>{''.join(f'<th>{html.escape(h)}</th>' for h in head)}</tr></thead><tbody>
{''.join(body)}</tbody></table></body></html>"""
    (out / "index.html").write_text(page)
