"""Rebuild the shipped BOLT behaviour classifier (fastmetrics/data/bolt_classifier/).

    python scripts/train_bolt_classifier.py ../shared/data/bolt [-o fastmetrics/data/bolt_classifier]

Fits on the train split, reports on the valid split, writes manifest.json + weights.npz and
copies the BSD-3-Clause notice beside them. ``C`` is chosen by stratified 5-fold CV on train.
"""
from __future__ import annotations

import argparse
import csv
import shutil
import time
from pathlib import Path

import numpy as np


def read(folder: Path, who: str, split: str):
    with open(folder / f"finetune_{who}_combined_{split}.csv", newline="", encoding="utf-8") as fh:
        rows = list(csv.DictReader(fh))
    return [r["prompt"] for r in rows], [r["completion"].strip() for r in rows]


def main(argv=None) -> int:
    import warnings

    from sklearn.exceptions import ConvergenceWarning
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import f1_score
    from sklearn.model_selection import StratifiedKFold, cross_val_predict

    import fastmetrics
    from fastmetrics.embed.encoder import get_encoder
    from fastmetrics.models.bolt import BoltClassifier, features, shipped_path

    ap = argparse.ArgumentParser()
    ap.add_argument("bolt_dir", type=Path)
    ap.add_argument("-o", "--output", type=Path, default=shipped_path())
    args = ap.parse_args(argv)
    warnings.simplefilter("ignore", ConvergenceWarning)
    t0 = time.perf_counter()
    manifest = {"kind": "fastmetrics.bolt", "feature_version": 1,
                "encoder_model_id": get_encoder().model_id, "heads": {},
                "source": "BOLT, Chiu et al. 2024 (arXiv:2401.00820), behavioral-data/BOLT, BSD-3-Clause"}
    arrays = {}
    for who in ("therapist", "client"):
        tx, ty = read(args.bolt_dir, who, "train")
        vx, vy = read(args.bolt_dir, who, "valid")
        labels = sorted(set(ty))
        y = np.array([labels.index(v) for v in ty])
        X = features(fastmetrics.encode(tx, cache_dir=""), tx)
        mean, scale = X.mean(0), X.std(0)
        scale[scale < 1e-12] = 1
        Xs = (X - mean) / scale
        best = None
        for C in (0.001, 0.003, 0.01, 0.03, 0.1):
            clf = LogisticRegression(C=C, class_weight="balanced", max_iter=1000)
            p = cross_val_predict(clf, Xs, y, cv=StratifiedKFold(min(5, np.bincount(y).min()), shuffle=True,
                                                                 random_state=0))
            f1 = f1_score(y, p, average="macro")
            print(f"{who} C={C}: train-CV macro-F1 {f1:.3f}")
            if best is None or f1 > best[1]:
                best = (C, f1)
        clf = LogisticRegression(C=best[0], class_weight="balanced", max_iter=1000).fit(Xs, y)
        arrays.update({f"{who}_mean": mean, f"{who}_scale": scale, f"{who}_w": clf.coef_,
                       f"{who}_b": clf.intercept_})
        model = BoltClassifier({"heads": {who: {"labels": labels}}}, arrays)
        pv = model.predict(fastmetrics.encode(vx, cache_dir=""), vx, who)
        vf1 = f1_score(vy, pv, average="macro", labels=labels, zero_division=0)
        print(f"{who}: C={best[0]}, valid macro-F1 {vf1:.3f}")
        manifest["heads"][who] = {"labels": labels, "C": best[0], "train_cv_macro_f1": round(best[1], 4),
                                  "valid_macro_f1": round(float(vf1), 4), "n_train": len(ty),
                                  "n_valid": len(vy)}
    out = BoltClassifier(manifest, arrays).save(args.output)
    shutil.copy(args.bolt_dir / "LICENSE-BSD-3-Clause.txt", out / "LICENSE-BSD-3-Clause.txt")
    print(f"wrote {out} in {time.perf_counter() - t0:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
