"""Where the compiled kernels are cached on disk.

Numba keys a cached function on its own source file only, so a kernel that
calls into another module would keep running the old callee after that module
changed, and two processes running different versions of the sources could
overwrite each other's entries.  Every version of the kernel sources therefore
gets a cache directory of its own, named by a fingerprint of all of them.
The setting applies only while dendcore's kernels are being defined.
"""
from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from pathlib import Path

import numba

_PKG = Path(__file__).resolve().parent
_SOURCES = [_PKG / "rng.py", *sorted((_PKG / "kernels").glob("*.py"))]


def fingerprint() -> str:
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def _writable(directory: Path) -> bool:
    try:
        directory.mkdir(parents=True, exist_ok=True)
        tempfile.TemporaryFile(dir=directory).close()
        return True
    except OSError:
        return False


def cache_dir() -> Path | None:
    """The first writable home for this version's cache (None: let Numba decide)."""
    name = f"numba-{fingerprint()}"
    for base in (_PKG / "__pycache__", Path.home() / ".cache" / "dendcore", Path(tempfile.gettempdir()) / "dendcore"):
        if _writable(base / name):
            return base / name
    return None


@contextlib.contextmanager
def kernel_cache():
    """Point Numba's cache at our directory while the kernel modules are imported."""
    if os.environ.get("NUMBA_CACHE_DIR"):  # an explicit user setting wins
        yield
        return
    previous = numba.config.CACHE_DIR
    target = cache_dir()
    if target is not None:
        numba.config.CACHE_DIR = str(target)
    try:
        yield
    finally:
        numba.config.CACHE_DIR = previous
