"""Numba kernels.  Pure functions over preallocated arrays; every array they
mutate is an argument.  Each has a slow readable twin in
:mod:`dendcore.reference` that the tests compare against.

Numba's on-disk cache keys a function on its own file only, so a kernel that
calls into another module keeps running the old callee after that module
changes.  We therefore fingerprint all kernel sources together and drop the
cached machine code whenever the fingerprint moves.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

_HERE = Path(__file__).resolve().parent
_SOURCES = sorted(_HERE.glob("*.py")) + [_HERE.parent / "rng.py"]


def _invalidate_stale_cache() -> None:
    digest = hashlib.sha256()
    for path in _SOURCES:
        digest.update(path.name.encode())
        digest.update(path.read_bytes())
    fingerprint = digest.hexdigest()
    caches = [_HERE / "__pycache__", _HERE.parent / "__pycache__"]
    stamp = caches[0] / "kernel-sources.sha256"
    try:
        if stamp.is_file() and stamp.read_text() == fingerprint:
            return
        for cache in caches:
            for pattern in ("*.nbi", "*.nbc"):
                for f in cache.glob(pattern):
                    f.unlink()
        caches[0].mkdir(exist_ok=True)
        stamp.write_text(fingerprint)
    except OSError:
        pass  # read-only install: its cache was built from these very sources


_invalidate_stale_cache()
