"""Single-turn empathy of supporter turns (the ``empathy`` family's computation API).

The mechanisms are those of Sharma et al., EMNLP 2020 (EPITOME): emotional reactions (``er``),
interpretations (``ip``) and explorations (``ex``); the heuristic scorer adds advice-giving
(``advice``) as a contrast. See :mod:`fastmetrics.metrics.empathy.family`.
"""
from __future__ import annotations

__all__ = ["MECHANISMS", "SHORT"]

#: Anchor categories of the heuristic scorer.
MECHANISMS = ("emotional_reactions", "interpretations", "explorations", "advice")
#: Column suffix of each category.
SHORT = {"emotional_reactions": "er", "interpretations": "ip", "explorations": "ex", "advice": "advice"}
