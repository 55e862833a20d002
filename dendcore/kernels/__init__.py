"""Numba kernels.  Pure functions over preallocated arrays; every array they
mutate is an argument.  Each has a slow readable twin in
:mod:`dendcore.reference` that the tests compare against."""
