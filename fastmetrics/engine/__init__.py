"""Engines: the only place that knows about chunks, partitions, workers and resumption.

* :mod:`~fastmetrics.engine.plan` -- what a run computes and :func:`score_chunk`, the
  per-chunk scoring function every engine maps;
* :mod:`~fastmetrics.engine.local` -- chunk after chunk in this process (threads);
* :mod:`~fastmetrics.engine.outputs` -- the output folder: lock, resumable parts, outputs
  replaced as one set.
"""
from __future__ import annotations

from .plan import ChunkOutput, Plan, score_chunk

__all__ = ["Plan", "ChunkOutput", "score_chunk"]
