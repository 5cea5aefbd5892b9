"""The outcome study: does single-turn quality predict the multi-turn outcome?

``run_study(scored_dir, report_dir, outcome, control=..., snapshot=..., trajectory=...)``
(and ``fastmetrics study`` on the command line) writes ``results.json`` and a self-contained
``report.html``. See :mod:`fastmetrics.study.analysis` for the statistics,
:mod:`fastmetrics.study.signals` for the feedback attribution rule and
:mod:`fastmetrics.metrics.behaviour` for the ESConv -> BOLT mapping.
"""
from __future__ import annotations

from .run import load_scored, prepare, run_study

__all__ = ["run_study", "load_scored", "prepare"]
