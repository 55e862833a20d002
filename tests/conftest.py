import numpy as np
import pytest

from dendcore import ModelSpec, Trainer, load_mnist


@pytest.fixture(scope="session")
def mnist():
    return load_mnist()


@pytest.fixture
def small_trainer(mnist):
    """A trainer factory for small networks (the twins are slow)."""
    def make(seed=0, chunk=50, **changes):
        spec = ModelSpec().replace(hidden=changes.pop("hidden", (40,)), **changes)
        return Trainer(spec, mnist, seed=seed, chunk=chunk)
    return make


def rel_err(a, b):
    a = np.asarray(a, dtype=float)
    b = np.asarray(b, dtype=float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))
