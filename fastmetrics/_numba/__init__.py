"""Numba kernels, one module per metric family: plain arrays in, arrays out."""
