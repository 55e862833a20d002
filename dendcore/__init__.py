"""dendcore: deep learning with segregated dendrites (Guerguiev, Lillicrap & Richards 2017).

The engine: specs and presets, network construction, Numba kernels for the
spiking and rate modes, a trainer that yields snapshots, testing, run files.
It never imports a UI library.
"""
from ._numba_cache import kernel_cache

with kernel_cache():
    from . import rng  # noqa: F401  (kernels are defined, and find their cache, here)
    from .kernels import layout, learning, spiking, train  # noqa: F401

from .datasets import Dataset, DatasetError, load_dataset, load_mnist
from .evaluation import TestResult
from .network import Network, build_network
from .presets import PRESETS, get_preset
from .runio import load_run, save_run
from .snapshot import SCHEMA_VERSION, Snapshot
from .spec import LIVE_FIELDS, ModelSpec, SpecError
from .trainer import Diagnostics, DivergenceError, Trainer

__all__ = [
    "Dataset", "DatasetError", "load_dataset", "load_mnist", "TestResult", "Network", "build_network",
    "PRESETS", "get_preset", "load_run", "save_run", "SCHEMA_VERSION", "Snapshot", "LIVE_FIELDS",
    "ModelSpec", "SpecError", "Diagnostics", "DivergenceError", "Trainer",
]
__version__ = "0.1.0"
