"""Parameter sweeps on Dask (filled in by the comparison-lab work)."""
from __future__ import annotations


def add_parser(sub) -> None:
    return None


def cmd_sweep(args) -> int:
    raise NotImplementedError
