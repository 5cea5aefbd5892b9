"""The study report: one self-contained HTML page with embedded PNG plots (matplotlib, Agg).

Sections: plain-language summary; the headline forest plot of the per-signal difference
(control + mean + trajectory minus control + mean); the signal table; the relational and
client-state groups; the primary analysis; what was left out and why; snapshot features against
the outcome (distributions per class for a binary outcome); mean trajectories over normalised
position by outcome group; the pooled models; the sortable feature table linked to METRICS.md.
No external resources: plots are ``data:`` URIs, the only script sorts the tables.
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


#: METRICS.md sections (GitHub-style anchors) by family or signal group.
METRICS_ANCHORS = {
    "nclid": "3-linguistic-coordination-by-wmd-clid--uclid--nclid",
    "lsm": "4-style-synchrony", "rlsm": "4-style-synchrony", "coordination": "4-style-synchrony",
    "embedding_sync": "4-style-synchrony", "alliance": "5-working-alliance-per-turn-compass",
    "valence": "6-emotion-trajectory", "emotion": "6-emotion-trajectory",
    "empathy": "7-single-turn-quality-and-behaviours", "behaviour": "7-single-turn-quality-and-behaviours",
    "human": "7-single-turn-quality-and-behaviours",
    "trajectory": "8-trajectory-features-and-the-outcome-question",
}


def feature_anchor(name: str, source: str = "") -> str:
    """The METRICS.md anchor that defines a feature (by its family, else its signal)."""
    for key in ("nclid", "rlsm", "lsm", "coordination", "alliance", "embedding_sync", "emb_s",
                "empathy", "bolt_", "feedback", "valence"):
        if name.startswith(key) or f"({key} family)" in source:
            k = {"emb_s": "embedding_sync", "bolt_": "behaviour", "feedback": "human"}.get(key, key)
            return "METRICS.md#" + METRICS_ANCHORS[k]
    return "METRICS.md#" + METRICS_ANCHORS["trajectory"]


def summarise(results: dict) -> list[str]:
    """Plain statements of what the results show (one sentence each)."""
    out = []
    ctrl = results.get("controls") or []
    alpha = results["settings"]["alpha"]
    out.append(f"{results['n_conversations']} conversations; outcome '{results['outcome']}' "
               f"({results['outcome_type']})" + (f", controlling for {', '.join(ctrl)}" if ctrl else "")
               + ".")
    d = results.get("dropped", {})
    if any(d.values()):
        out.append("Conversations left out: " + ", ".join(f"{v} ({k.replace('_', ' ')})"
                                                          for k, v in d.items() if v) + ".")
    sc = [r for r in results.get("signal_comparison", []) if r.get("delta")]
    if sc:
        sig = [r for r in sc if r.get("significant")]
        metric = {"auc": "AUC", "r2": "R^2", "spearman": "Spearman rho"}[sc[0]["metric"]]
        if sig:
            out.append(f"The trajectory adds to the mean for {len(sig)} of {len(sc)} signals "
                       f"(held-out {metric}, BH q < {alpha}): " + "; ".join(
                           f"{r['signal']} ({_fmt(r['delta']['mean'])}, 95% CI "
                           f"{_fmt(r['delta']['ci_low'])} to {_fmt(r['delta']['ci_high'])})"
                           for r in sig) + ".")
        else:
            best = max(sc, key=lambda r: r["delta"]["mean"])
            out.append(f"For none of the {len(sc)} signals does the trajectory add to the mean "
                       f"(held-out {metric}, no BH q < {alpha} with a model better than chance; "
                       f"largest difference: {best['signal']}, {_fmt(best['delta']['mean'])}, "
                       f"95% CI {_fmt(best['delta']['ci_low'])} to {_fmt(best['delta']['ci_high'])}).")
    for gname, g in (results.get("groups") or {}).items():
        for part, label in (("vs_control", "over the controls"),
                            ("beyond_snapshot", "beyond the snapshot signals")):
            r = g.get(part)
            if r:
                out.append(f"{gname.replace('_', ' ').capitalize()} group {label}: "
                           f"{_fmt(r['delta']['mean'])} (95% CI {_fmt(r['delta']['ci_low'])} to "
                           f"{_fmt(r['delta']['ci_high'])}).")
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
    metric = {"continuous": "held-out R^2", "binary": "held-out ROC AUC",
              "ordinal": "held-out Spearman rho"}[results["outcome_type"]]
    null = 0.5 if results["outcome_type"] == "binary" else 0.0
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

    kind = results.get("outcome_type")
    mlabel = {"continuous": "R\u00b2", "binary": "ROC AUC", "ordinal": "Spearman \u03c1"}[kind]
    # 0. headline: per-signal forest plot of (mean + trajectory) - mean
    sc = [r for r in results.get("signal_comparison", []) if r.get("delta")]
    if sc:
        fig, ax = plt.subplots(figsize=(7.5, 0.45 * len(sc) + 1.6))
        ys = np.arange(len(sc))[::-1]
        dm = np.array([r["delta"]["mean"] for r in sc])
        dl = np.array([r["delta"]["ci_low"] for r in sc])
        dh = np.array([r["delta"]["ci_high"] for r in sc])
        col = ["#c0392b" if r.get("significant") else "#34495e" for r in sc]
        for yy, a_, lo_, hi_, c_ in zip(ys, dm, dl, dh, col):
            ax.errorbar([a_], [yy], xerr=[[a_ - lo_], [hi_ - a_]], fmt="none", ecolor=c_, capsize=3)
        ax.scatter(dm, ys, c=col, zorder=3)
        ax.axvline(0, color="grey", lw=0.8, ls="--")
        ax.set_yticks(ys, [f"{r['signal']} (n={r['n']})" for r in sc], fontsize=8)
        ax.set_xlabel(f"held-out {mlabel}: control + mean + trajectory minus control + mean "
                      "(95% paired bootstrap CI)", fontsize=8)
        ax.set_ylabel("supporter signal", fontsize=8)
        ax.set_title("Does a signal's trajectory add to its mean? (red: BH q < "
                     f"{results['settings']['alpha']})", fontsize=9)
        fig.tight_layout()
        imgs.append(("forest", "forest plot of the per-signal difference (trajectory minus mean)",
                     _png(fig)))

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
        lv = results.get("outcome_levels") or []
        for ax, f in zip(axes.ravel(), snap):
            x = np.asarray(f.values, dtype=np.float64)[keep]
            r = byname[f.name]
            if kind == "binary":  # distributions per outcome class, not a 0/1 strip
                enc = results.get("outcome_encoding") or {}
                names = ([f"not {enc['positive']}", enc["positive"]] if enc.get("positive")
                         else [f"{results['outcome']} = {v:g}" for v in lv])
                parts = [x[(y == g) & np.isfinite(x)] for g in (0.0, 1.0)]
                ax.boxplot(parts, orientation="horizontal", widths=0.5)
                ax.set_yticks([1, 2], [f"{nm} (n={len(p_)})" for nm, p_ in zip(names, parts)],
                              fontsize=8)
                ax.set_ylabel("outcome class", fontsize=8)
            else:
                ax.scatter(x, y + rng.uniform(-jit, jit, len(y)), s=12, alpha=0.6)
                ax.set_ylabel(results["outcome"] + (" (jittered)" if jit else ""), fontsize=8)
            ax.set_title(f"{f.name}\nrho={_fmt(r['rho'], 2)} [{_fmt(r['ci_low'], 2)}, {_fmt(r['ci_high'], 2)}]",
                         fontsize=9)
            ax.set_xlabel(f"{f.name} (per-conversation value)", fontsize=8)
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
            better = results["settings"].get("better")  # "higher", "lower" or None (unstated)
            tag_hi = " (better outcome)" if better == "higher" else " (worse outcome)" if better == "lower" else ""
            tag_lo = " (better outcome)" if better == "lower" else " (worse outcome)" if better == "higher" else ""
            enc = results.get("outcome_encoding") or {}
            if results.get("outcome_type") == "binary":
                lv = results["outcome_levels"]
                hi_l = (enc["positive"] if enc.get("positive") else f"{results['outcome']} = {lv[1]:g}")
                lo_l = (f"not {enc['positive']}" if enc.get("positive") else f"{results['outcome']} = {lv[0]:g}")
                groups = ((True, hi_l + tag_hi), (False, lo_l + tag_lo))
            else:
                groups = ((True, f"{oname} above median{tag_hi}"),
                          (False, f"{oname} at/below median{tag_lo}"))
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
            ax.set_xlabel("normalised position in conversation (0 = first turn, 1 = last)", fontsize=8)
            ax.set_ylabel(f"mean {nm.split(' (')[0]} per position bin (\u00b1 SE)", fontsize=8)
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
        ax.axhline(0.5 if kind == "binary" else 0.0, color="grey", lw=0.8, ls="--")
        ax.set_xticks(np.arange(len(labels)), labels, fontsize=8)
        ax.set_ylabel("held-out " + mlabel)
        ax.set_xlabel("predictor set (each with the controls)", fontsize=8)
        ax.set_title("cross-validated model comparison (95% bootstrap CI)", fontsize=9)
        fig.tight_layout()
        imgs.append(("models", "model comparison with confidence intervals", _png(fig)))

    e = html.escape

    def ftable(feats, tid):
        rows = []
        for f in feats:
            link = f'<a href="{e(feature_anchor(f["name"], f.get("source", "")))}">{e(f["name"])}</a>'
            cells = [link] + [e(str(c)) for c in (
                f["kind"], f["n"], _fmt(f["rho"]), f"{_fmt(f['ci_low'])} to {_fmt(f['ci_high'])}",
                _fmt(f["p"]), _fmt(f["q"]), "yes" if f.get("significant") else "", f.get("source", ""))]
            rows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
        head = "".join(f'<th onclick="sortTable(\'{tid}\',{i})">{h}</th>' for i, h in enumerate(
            ("feature", "kind", "n", "rho", "95% CI", "p", "q (BH)", f"q &lt; {results['settings']['alpha']}",
             "source")))
        return f'<table id="{tid}" class="sortable"><tr>{head}</tr>{"".join(rows)}</table>'

    def pair_cells(r):
        if not r:
            return ["", "", ""]
        return [f"{_fmt(r['base']['mean'])} [{_fmt(r['base']['ci_low'])}, {_fmt(r['base']['ci_high'])}]",
                f"{_fmt(r['full']['mean'])} [{_fmt(r['full']['ci_low'])}, {_fmt(r['full']['ci_high'])}]",
                f"{_fmt(r['delta']['mean'])} [{_fmt(r['delta']['ci_low'])}, {_fmt(r['delta']['ci_high'])}]"]

    srows = []
    for r in results.get("signal_comparison", []):
        cells = [e(r["signal"]), e(r.get("group", "")), str(r["n"]), str(r["n_dropped_no_value"])]
        if r.get("delta"):
            cells += [e(c) for c in pair_cells(r)] + [_fmt(r["p"]), _fmt(r["q"]),
                                                      "yes" if r.get("significant") else ""]
        else:
            cells += ["", "", "", "", "", e(r.get("reason", ""))]
        srows.append("<tr>" + "".join(f"<td>{c}</td>" for c in cells) + "</tr>")
    grows = []
    for gname, g in (results.get("groups") or {}).items():
        for part, label in (("vs_control", "control vs control + group"),
                            ("beyond_snapshot", "control + snapshot signals vs + group")):
            if g.get(part):
                grows.append("<tr>" + "".join(f"<td>{e(c)}</td>" for c in [
                    gname, label, ", ".join(g["features"])] + pair_cells(g[part])) + "</tr>")
    m = results["models"]
    mrows = []
    for name, s_ in m.items():
        mrows.append("<tr>" + "".join(f"<td>{e(str(c))}</td>" for c in (
            name, s_.get("metric"), _fmt(s_.get("mean")), f"{_fmt(s_.get('ci_low'))} to {_fmt(s_.get('ci_high'))}",
            s_.get("n_features", ""), s_.get("n_controls", ""), s_.get("reason", ""))) + "</tr>")
    sec = {"forest": "Headline: does each signal's trajectory add to its mean?",
           "scatter": "Snapshot features against the outcome",
           "trajectories": "Mean trajectories by outcome group",
           "models": "Pooled model comparison (exploratory)"}
    figs = {s_: f"<h2>{sec[s_]}</h2><img src=\"{uri}\" alt=\"{e(alt)}\">" for s_, alt, uri in imgs}
    st = results["settings"]
    drop = results.get("dropped", {})
    drop_html = "".join(f"<li>{e(k.replace('_', ' '))}: {v}</li>" for k, v in drop.items())
    excl = results.get("signals", {}).get("excluded_columns", [])
    excl_html = "".join(f"<li>{e(x['name'])}: {e(x['reason'])}</li>" for x in excl)
    prim = results.get("primary") or {}
    prim_html = ""
    if prim:
        pm = prim.get("model") or {}
        pm_txt = ""
        if pm.get("delta"):
            pm_txt = (f"<p>Control vs control + primary features: held-out {e(st['metric'])} "
                      + " / ".join(e(c) for c in pair_cells(pm)) + " (base / full / difference).</p>")
        elif pm.get("mean") is not None:
            pm_txt = (f"<p>Primary features alone: held-out {e(st['metric'])} {_fmt(pm['mean'])} "
                      f"[{_fmt(pm['ci_low'])}, {_fmt(pm['ci_high'])}].</p>")
        prim_html = ("<h2>Primary analysis (pre-declared)</h2><p>Benjamini-Hochberg over the "
                     "primary features only.</p>" + pm_txt + ftable(prim.get("features", []), "primary"))
    ctrl = results["controls"]
    better = st.get("better")
    better_html = (f"<p>A {'higher' if better == 'higher' else 'lower'} <b>{e(results['outcome'])}</b> "
                   "is the better outcome (as stated with <code>--better</code>).</p>" if better else
                   "<p>Which direction of the outcome is better was not stated (<code>--better "
                   "higher|lower</code>); the plots name the groups by value only.</p>")
    adj = better_html + ("<p><b>(adj.)</b> means the outcome after removing the linear effect of the controls ("
           + e(", ".join(ctrl)) + "): the residual of a least-squares fit on them.</p>") if ctrl else ""
    ctrl_html = (" controlling for <b>" + e(", ".join(ctrl)) + "</b>") if ctrl else ""
    sig_cols = ("signal", "group", "n", "dropped (no value)", "base [95% CI]", "full [95% CI]", "full - base [95% CI]",
                "p", "q (BH)", "adds")
    sig_head = "".join(f'<th onclick="sortTable(&quot;signals&quot;,{i})">{h}</th>' for i, h in enumerate(sig_cols))
    grp_head = ("<tr><th>group</th><th>comparison</th><th>features</th><th>base [95% CI]</th><th>full [95% CI]</th>"
                "<th>full - base [95% CI]</th></tr>")
    doc = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<title>fastmetrics study: {e(results['outcome'])}</title>
<style>
body{{font-family:sans-serif;max-width:1100px;margin:2em auto;color:#222}}
table{{border-collapse:collapse;font-size:0.85em}} td,th{{border:1px solid #ccc;padding:3px 6px}}
th{{background:#eee;cursor:pointer}} img{{max-width:100%}} li{{margin:0.3em 0}}
</style>
<script>
function sortTable(id, col) {{
  var t = document.getElementById(id), rows = Array.from(t.rows).slice(1);
  var asc = t.getAttribute("data-col") != col || t.getAttribute("data-dir") != "asc";
  rows.sort(function(a, b) {{
    var x = a.cells[col].textContent, y = b.cells[col].textContent;
    var nx = parseFloat(x), ny = parseFloat(y);
    var c = (isNaN(nx) || isNaN(ny)) ? x.localeCompare(y) : nx - ny;
    return asc ? c : -c;
  }});
  rows.forEach(function(r) {{ t.tBodies[0].appendChild(r); }});
  t.setAttribute("data-col", col); t.setAttribute("data-dir", asc ? "asc" : "desc");
}}
</script></head><body>
<h1>Does single-turn quality predict the outcome, and does the trajectory add to it?</h1>
<p>Outcome <b>{e(results['outcome'])}</b> ({e(results['outcome_type'])}){ctrl_html};
{results['n_conversations']} conversations. Source: <code>{e(results['scored_dir'])}</code>.</p>
{adj}
{_empathy_note(results.get("empathy_scorer"), e)}
<h2>What the data show</h2>
<ul>{''.join(f'<li>{e(s_)}</li>' for s_ in results['summary'])}</ul>
{figs.get('forest', '')}
<h2>Signal by signal</h2>
<p>For each supporter signal: held-out {e(st['metric'])} of control + mean(signal) (base) and of
control + mean + trajectory (slope, late - early, volatility, convergence where defined) (full),
on the same folds; the difference with its {e(st['signal_ci'])}. BH across signals.
"Adds" needs q &lt; {st['alpha']}, a positive difference and a full model better than chance.</p>
<table id="signals" class="sortable"><tr>{sig_head}</tr>
{''.join(srows)}</table>
<h2>Relational and client-state groups</h2>
<p>Relational: the conversation-level multi-turn measures. Client state: the client's own
valence and its trajectory, kept out of every predictor set by default (they nearly restate a
self-reported outcome).</p>
<table>{grp_head}
{''.join(grows)}</table>
{prim_html}
{_synchrony_html(results.get("synchrony") or {}, e)}
<h2>Conversations and columns left out</h2>
<ul>{drop_html}</ul>
<ul>{excl_html}</ul>
{figs.get('scatter', '')}{figs.get('trajectories', '')}{figs.get('models', '')}
<h2>Models</h2>
<table><tr><th>set</th><th>metric</th><th>mean</th><th>95% CI</th><th>features</th><th>controls</th><th>note</th></tr>
{''.join(mrows)}</table>
<h2>Features (exploratory)</h2>
<p>Click a column header to sort; a feature's name links to its definition in the fastmetrics
METRICS.md (docs/METRICS.md of the fastmetrics sources).</p>
{ftable(sorted(results["features"], key=lambda f: (f["kind"], f["q"] if f["q"] is not None else 9)), "features")}
<h2>Method</h2>
<p>{e(st['correlation'])}; {e(st['ci'])} ({st['n_boot']} resamples); {e(st['multiple_testing'])}.
Models: {e(st['model'])}; {st['n_splits']}-fold {e(st['cv'])}, {st['n_repeats']} repeats; held-out
{e(st['metric'])} on pooled out-of-fold predictions.
Seed {st['seed']}. fastmetrics {e(str(results['fastmetrics_version']))}.</p>
</body></html>
"""
    from pathlib import Path

    p = Path(path)
    tmp = p.with_suffix(".html.tmp")
    tmp.write_text(doc, encoding="utf-8")
    tmp.replace(p)


def _synchrony_html(sync: dict, e) -> str:
    """The "synchrony above chance" and split-half reliability section (empty without data)."""
    def num(v, f="{:.3f}"):
        return "" if v is None else f.format(v)

    parts = []
    chance = sync.get("above_chance") or {}
    if chance:
        rows = "".join(f"<tr><td>{e(m)}{' (lower = more)' if r.get('direction') == 'lower' else ''}</td>"
                       f"<td>{r['n']}</td><td>{num(r['share_above_chance'])}</td>"
                       f"<td>{num(r['mean_z'])}</td><td>{num(r['mean_excess'])}</td></tr>"
                       for m, r in chance.items())
        alpha = next(iter(chance.values())).get("alpha", 0.05)
        parts.append("<h2>Synchrony above chance</h2><p>Share of conversations whose measure beats "
                     f"its within-conversation surrogates (one-sided permutation p &le; {alpha}); under "
                     f"no synchrony it is about {alpha}. z: (observed - surrogate mean) / surrogate SD; for a "
                     "measure marked lower = more (nCLiD, a distance) the p-value is the lower tail "
                     "and negative z and excess mean more coordination than chance.</p>"
                     "<table><tr><th>measure</th><th>conversations</th><th>share above chance</th>"
                     f"<th>mean z</th><th>mean excess</th></tr>{rows}</table>")
    half = sync.get("split_half") or {}
    if half:
        rows = "".join(f"<tr><td>{e(m)}</td><td>{r['n']}</td><td>{num(r['r_half'])}</td>"
                       f"<td>{num(r['reliability'])}</td></tr>" for m, r in half.items())
        parts.append(f"<h2>Split-half reliability</h2><p>{e(sync.get('split_half_scheme', ''))}.</p>"
                     "<table><tr><th>measure</th><th>conversations</th><th>r (halves)</th>"
                     f"<th>reliability</th></tr>{rows}</table>")
    return "".join(parts)


def _empathy_note(scorer, e) -> str:
    """Which empathy scorer the model-empathy signals come from (none when the family did not run)."""
    if not scorer:
        return ""
    what = {"epitome": "the trained EPITOME model (docs/validation.md)",
            "prototype": "the heuristic prototype score, an unvalidated baseline (no trained model was found)",
            "onnx": "a user-supplied ONNX classifier"}.get(scorer, scorer)
    return f"<p>Model empathy signals: <b>{e(what)}</b>.</p>"
