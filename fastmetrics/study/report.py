"""The study report: one self-contained HTML page with embedded PNG plots (matplotlib, Agg).

Sections: plain-language summary, snapshot-vs-outcome scatter plots, mean trajectories over
normalised conversation position split by outcome group, model comparison with bootstrap CIs,
and the feature table. No scripts, no external resources: plots are ``data:`` URIs.
"""
from __future__ import annotations

import base64
import html
import io
import warnings

import numpy as np


def _fmt(v, nd=3):
    if v is None or (isinstance(v, float) and not np.isfinite(v)):
        return "n/a"
    if isinstance(v, float) and 0 < abs(v) < 10 ** -nd:
        return f"{v:.1e}"
    return f"{v:.{nd}f}"


def summarise(results: dict) -> list[str]:
    """Plain statements of what the results show (one sentence each)."""
    out = []
    ctrl = results.get("controls") or []
    alpha = results["settings"]["alpha"]
    out.append(f"{results['n_conversations']} conversations; outcome '{results['outcome']}' "
               f"({results['outcome_type']})" + (f", controlling for {', '.join(ctrl)}" if ctrl else "")
               + ".")
    corr = "partial Spearman" if ctrl else "Spearman"
    for kind in ("snapshot", "trajectory"):
        fs = [f for f in results["features"] if f["kind"] == kind]
        if not fs:
            out.append(f"No {kind} features were available.")
            continue
        sig = [f for f in fs if f.get("significant")]
        if sig:
            parts = [f"{f['name']} ({corr} rho = {_fmt(f['rho'], 2)}, 95% CI {_fmt(f['ci_low'], 2)} "
                     f"to {_fmt(f['ci_high'], 2)}, q = {_fmt(f['q'])})" for f in sig]
            out.append(f"{len(sig)} of {len(fs)} {kind} features are associated with the outcome "
                       f"at FDR {alpha}: " + "; ".join(parts) + ".")
        else:
            best = max(fs, key=lambda f: abs(f["rho"]) if f["rho"] is not None and np.isfinite(f["rho"]) else -1)
            out.append(f"No evidence that any of the {len(fs)} {kind} features is associated with "
                       f"the outcome (no q < {alpha}; strongest: {best['name']}, rho = "
                       f"{_fmt(best['rho'], 2)}, 95% CI {_fmt(best['ci_low'], 2)} to "
                       f"{_fmt(best['ci_high'], 2)}).")
    m = results["models"]
    metric = "held-out R^2" if results["outcome_type"] == "continuous" else "held-out ROC AUC"
    null = 0.0 if results["outcome_type"] == "continuous" else 0.5
    for name in ("control_only", "snapshot", "trajectory", "both"):
        s = m.get(name)
        if not s:
            continue
        if s.get("mean") is None:
            out.append(f"The {name} model was not fitted: {s.get('reason', 'no features')}.")
            continue
        ref = "chance" if results["outcome_type"] == "binary" else "predicting the mean"
        verdict = (f"better than {ref}" if s["ci_low"] > null else
                   f"not distinguishable from {ref}" if s["ci_high"] >= null else f"worse than {ref}")
        label = name.replace("_", " ").capitalize() + " model"
        if ctrl and name != "control_only":
            label += " (with the controls)"
        out.append(f"{label}: {metric} {_fmt(s['mean'])} (95% CI {_fmt(s['ci_low'])} "
                   f"to {_fmt(s['ci_high'])}), {verdict}.")
    for name in ("snapshot", "trajectory"):
        d = m.get(f"delta_{name}_minus_control_only")
        if d and d.get("mean") is not None:
            v = ("adds to the controls" if d["ci_low"] > 0 else
                 "adds nothing detectable to the controls" if d["ci_high"] >= 0 else
                 "makes held-out predictions worse than the controls alone")
            out.append(f"{name.capitalize()} minus control only: {_fmt(d['mean'])} (95% CI "
                       f"{_fmt(d['ci_low'])} to {_fmt(d['ci_high'])}): the {name} set {v}.")
    d = m.get("delta_both_minus_snapshot", {})
    if d.get("mean") is not None:
        if d["ci_low"] > 0:
            v = "evidence that trajectory features add predictive value beyond the snapshot"
        elif d["ci_high"] < 0:
            v = "adding trajectory features made held-out predictions worse"
        else:
            v = "no evidence that trajectory features add predictive value beyond the snapshot"
        out.append(f"Both minus snapshot: {_fmt(d['mean'])} (95% CI {_fmt(d['ci_low'])} to "
                   f"{_fmt(d['ci_high'])}): {v}.")
    return out


def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=90, bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _outcome_groups(results, data, keep):
    """Boolean 'high' per kept conversation: outcome (residualised on controls) above median."""
    y = np.asarray(data.y, dtype=np.float64)[keep]
    if results.get("outcome_type") == "binary":
        return y == np.max(y)
    if data.Z is not None:
        Z = np.asarray(data.Z, dtype=np.float64).reshape(len(data.y), -1)[keep]
        D = np.column_stack([np.ones(len(y)), Z])
        y = y - D @ np.linalg.lstsq(D, y, rcond=None)[0]
    return y > np.median(y)


def write_report(results: dict, data, extras: dict, path) -> None:
    """Write ``report.html`` for ``results`` (see :func:`fastmetrics.study.run_study`)."""
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    y_all = np.asarray(data.y, dtype=np.float64)
    keep = np.isfinite(y_all)
    if data.Z is not None:
        keep &= np.isfinite(np.asarray(data.Z, dtype=np.float64).reshape(len(y_all), -1)).all(axis=1)
    y = y_all[keep]
    imgs: list[tuple[str, str, str]] = []  # (section, alt, data-uri)
    rng = np.random.default_rng(0)

    # 1. snapshot features against the outcome
    byname = {f["name"]: f for f in results["features"]}
    snap = [f for f in data.features if f.kind == "snapshot" and f.name in byname]
    snap.sort(key=lambda f: -abs(byname[f.name]["rho"] or 0))
    snap = snap[:6]
    if snap:
        ncol = min(3, len(snap))
        nrow = int(np.ceil(len(snap) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.2 * ncol, 3.4 * nrow), squeeze=False)
        jit = 0.08 * (np.ptp(y) or 1) if len(np.unique(y)) <= 10 else 0.0
        for ax, f in zip(axes.ravel(), snap):
            x = np.asarray(f.values, dtype=np.float64)[keep]
            ax.scatter(x, y + rng.uniform(-jit, jit, len(y)), s=12, alpha=0.6)
            r = byname[f.name]
            ax.set_title(f"{f.name}\nrho={_fmt(r['rho'], 2)} [{_fmt(r['ci_low'], 2)}, {_fmt(r['ci_high'], 2)}]",
                         fontsize=9)
            ax.set_xlabel(f.name, fontsize=8)
            ax.set_ylabel(results["outcome"], fontsize=8)
        for ax in axes.ravel()[len(snap):]:
            ax.axis("off")
        fig.tight_layout()
        imgs.append(("scatter", "snapshot features against the outcome", _png(fig)))

    # 2. mean trajectories by outcome group
    series = extras.get("series", {})
    T = extras.get("turns")
    if series and T is not None and keep.sum() >= 4:
        high = np.zeros(T.n_conversations, dtype=bool)
        kidx = np.flatnonzero(keep)
        high[kidx] = _outcome_groups(results, data, keep)
        inkeep = keep[T.conv_index]
        nbins = 10
        lens = np.diff(T.conv_offsets)[T.conv_index]
        npos = np.where(lens > 1, T.position / np.maximum(lens - 1, 1), 0.0)
        b = np.minimum((npos * nbins).astype(np.int64), nbins - 1)
        names = list(series)[:6]
        ncol = min(3, len(names))
        nrow = int(np.ceil(len(names) / ncol))
        fig, axes = plt.subplots(nrow, ncol, figsize=(4.6 * ncol, 3.4 * nrow), squeeze=False)
        for ax in axes.ravel()[len(names):]:
            ax.axis("off")
        for ax, nm in zip(axes.ravel(), names):
            v, mask = series[nm]
            ok = mask & np.isfinite(v) & inkeep
            oname = results["outcome"] + (" (adj.)" if results.get("controls") else "")
            if results.get("outcome_type") == "binary":
                lv = results["outcome_levels"]
                groups = ((True, f"{results['outcome']} = {lv[1]:g}"),
                          (False, f"{results['outcome']} = {lv[0]:g}"))
            else:
                groups = ((True, f"{oname} above median"), (False, f"{oname} at/below median"))
            for grp, lab in groups:
                sel = ok & (high[T.conv_index] == grp)
                # mean per (conversation, bin), then mean over conversations
                key = T.conv_index[sel] * nbins + b[sel]
                s = np.bincount(key, weights=v[sel], minlength=T.n_conversations * nbins)
                c = np.bincount(key, minlength=T.n_conversations * nbins)
                cm = np.where(c > 0, s / np.maximum(c, 1), np.nan).reshape(-1, nbins)
                cm = cm[(high == grp) & keep]
                cnt = np.isfinite(cm).sum(axis=0)
                with np.errstate(invalid="ignore", divide="ignore"), warnings.catch_warnings():
                    warnings.simplefilter("ignore", RuntimeWarning)
                    mean = np.where(cnt > 0, np.nansum(cm, axis=0) / np.maximum(cnt, 1), np.nan)
                    se = np.where(cnt > 1, np.nanstd(cm, axis=0) / np.sqrt(np.maximum(cnt, 1)), np.nan)
                xs = (np.arange(nbins) + 0.5) / nbins
                ax.plot(xs, mean, marker="o", label=f"{lab} (n={int(((high == grp) & keep).sum())})")
                ax.fill_between(xs, mean - se, mean + se, alpha=0.2)
            ax.set_title(nm, fontsize=9)
            ax.set_xlabel("normalised position in conversation", fontsize=8)
            ax.legend(fontsize=7)
        fig.tight_layout()
        imgs.append(("trajectories", "mean per-turn series over normalised position by outcome group",
                     _png(fig)))

    # 3. model comparison
    m = results["models"]
    labels, means, lo, hi = [], [], [], []
    for name in ("control_only", "snapshot", "trajectory", "both", "delta_both_minus_snapshot"):
        s = m.get(name)
        if s and s.get("mean") is not None:
            labels.append(name.replace("_", " ").replace("delta both minus snapshot", "both - snapshot\n(paired)"))
            means.append(s["mean"]), lo.append(s["ci_low"]), hi.append(s["ci_high"])
    if labels:
        fig, ax = plt.subplots(figsize=(6.5, 3.4))
        means, lo, hi = map(np.asarray, (means, lo, hi))
        ax.errorbar(np.arange(len(labels)), means, yerr=[means - lo, hi - means], fmt="o",
                    capsize=5)
        ax.axhline(0 if results["outcome_type"] == "continuous" else 0.5, color="grey", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_ylabel("held-out " + ("R^2" if results["outcome_type"] == "continuous" else "ROC AUC"))
        ax.set_title("cross-validated model comparison (95% bootstrap CI)", fontsize=9)
        fig.tight_layout()
        imgs.append(("models", "model comparison with confidence intervals", _png(fig)))

    e = html.escape
    rows = []
    for f in sorted(results["features"], key=lambda f: (f["kind"], f["q"] if f["q"] is not None else 9)):
        rows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            f["name"], f["kind"], f["n"], _fmt(f["rho"]), f"{_fmt(f['ci_low'])} to {_fmt(f['ci_high'])}",
            _fmt(f["p"]), _fmt(f["q"]), "yes" if f.get("significant") else "", f.get("source", ""))) + "</tr>")
    mrows = []
    for name, s in m.items():
        mrows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            name, s.get("metric"), _fmt(s.get("mean")), f"{_fmt(s.get('ci_low'))} to {_fmt(s.get('ci_high'))}",
            s.get("n_features", ""), s.get("n_controls", ""), s.get("reason", ""))) + "</tr>")
    sec = {"scatter": "Snapshot features against the outcome",
           "trajectories": "Mean trajectories by outcome group",
           "models": "Model comparison"}
    figs = "".join(f"<h2>{sec[s]}</h2><img src=\"{uri}\" alt=\"{e(alt)}\">" for s, alt, uri in imgs)
    st = results["settings"]
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>fastmetrics study: {e(results['outcome'])}</title>
<style>
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:0.85em}} td,th{{border:1px solid #ccc;padding:3px 6px}}
th{{background:#eee}} img{{max-width:100%}} li{{margin:0.3em 0}}
</style></head><body>
<h1>Does single-turn quality predict the outcome?</h1>
<p>Outcome <b>{e(results['outcome'])}</b>{(' controlling for <b>' + e(', '.join(results['controls'])) + '</b>') if results['controls'] else ''};
{results['n_conversations']} conversations. Source: <code>{e(results['scored_dir'])}</code>.</p>
<h2>What the data show</h2>
<ul>{''.join(f'<li>{e(s)}</li>' for s in results['summary'])}</ul>
{figs}
<h2>Models</h2>
<table><tr><th>set</th><th>metric</th><th>mean</th><th>95% CI</th><th>features</th><th>controls</th><th>note</th></tr>
{''.join(mrows)}</table>
<h2>Features</h2>
<table><tr><th>feature</th><th>kind</th><th>n</th><th>rho</th><th>95% CI</th><th>p</th><th>q (BH)</th>
<th>q &lt; {st['alpha']}</th><th>source</th></tr>
{''.join(rows)}</table>
<h2>Method</h2>
<p>{e(st['correlation'])}; {e(st['ci'])} ({st['n_boot']} resamples); {e(st['multiple_testing'])}.
Models: {e(st['model'])}; {st['n_splits']}-fold {e(st['cv'])}, {st['n_repeats']} repeats; held-out
metric on pooled out-of-fold predictions, CIs by bootstrap over conversations of those predictions.
Seed {st['seed']}. fastmetrics {e(str(results['fastmetrics_version']))}.</p>
</body></html>
"""
    from pathlib import Path

    p = Path(path)
    tmp = p.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(p)
