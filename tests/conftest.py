import numpy as np
import pytest

from dendcore import ModelSpec, Trainer, load_mnist


@pytest.fixture(scope="session", autouse=True)
def compiled_kernels():
    """Compile (or load from the on-disk cache) every kernel a session calls, once, before any test.

    On a fresh machine compiling takes about two minutes of one core.  Without this, whichever test
    first trains or tests a spiking network pays for it inside its own timeout (CI failed so: a
    spiking test waited 60 s on Numba's compiler), and its engine thread cannot stop meanwhile.
    Warm, this is about two seconds.
    """
    from app.warmup import compile_only
    compile_only()


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
