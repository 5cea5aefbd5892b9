"""Naive reference implementations, for the test suite and the benchmarks' value checks.

Plain Python / NumPy (and the peers users would otherwise pick: POT, scipy) written from the
published definitions; they share no code with the kernels they check. Importable from one
place so that tests and benchmarks use the same references.
"""
