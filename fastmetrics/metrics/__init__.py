"""Metric families, one module per family (see :mod:`fastmetrics.registry`)."""
