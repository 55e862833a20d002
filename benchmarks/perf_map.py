"""Name the compiled kernels for ``perf``: ``write_perf_map()`` writes ``/tmp/perf-PID.map``.

Numba's machine code lives in anonymous memory, so ``perf report`` shows bare
addresses.  Import this module before the kernels first run, call this after (compiled or loaded from
the cache); every function symbol of every compiled overload of dendcore's
kernels is listed with its address and size, read from the overload's object
code with ``nm``.  ``dump_functions(syms, fragment, prefix)`` also writes functions' machine code
to files for ``objdump -D -b binary -m i386:x86-64 --adjust-vma=ADDR``.
Used by ``benchmarks.step_profile --perf``.
"""
from __future__ import annotations

import ctypes
import os
import subprocess
import tempfile

from numba.core.codegen import CPUCodeLibrary
from numba.core.registry import CPUDispatcher

# Numba drops a library's object code once it is loaded into the JIT; keep a copy for nm.
_orig_set = CPUCodeLibrary._set_compiled_object
_orig_hook = CPUCodeLibrary._object_compiled_hook.__func__


def _keep_set(self, value):
    self._perf_object = value
    _orig_set(self, value)


def _keep_hook(cls, ll_module, buf):
    lib = getattr(ll_module, "_CPUCodeLibrary__library", None)
    if lib is not None:
        lib._perf_object = buf
    return _orig_hook(cls, ll_module, buf)


CPUCodeLibrary._set_compiled_object = _keep_set
CPUCodeLibrary._object_compiled_hook = classmethod(_keep_hook)


def _dispatchers():
    import dendcore.kernels.learning as learning
    import dendcore.kernels.spiking as spiking
    import dendcore.kernels.train as train
    import dendcore.rng as rng
    for mod in (train, spiking, learning, rng):
        for name in dir(mod):
            obj = getattr(mod, name)
            if isinstance(obj, CPUDispatcher):
                yield obj


def compiled_symbols() -> dict[str, tuple[int, int]]:
    """{symbol: (address, size)} of every function in every compiled overload."""
    out: dict[str, tuple[int, int]] = {}
    seen = set()
    for disp in _dispatchers():
        for cres in disp.overloads.values():
            lib = cres.library
            if id(lib) in seen:
                continue
            seen.add(id(lib))
            obj = getattr(lib, "_perf_object", None)
            if obj is None:  # loaded before this module was imported: sizes unknown
                for fn in lib.get_defined_functions():
                    addr = lib.get_pointer_to_function(fn.name)
                    if addr:
                        out.setdefault(fn.name, (addr, 0))
                continue
            with tempfile.NamedTemporaryFile(suffix=".o") as f:
                f.write(obj)
                f.flush()
                listing = subprocess.run(["nm", "-S", "--defined-only", f.name], capture_output=True,
                                         text=True, check=True).stdout
            # all functions sit in one .text section: place them by a symbol the JIT knows
            entries = []
            for line in listing.splitlines():
                parts = line.split()
                if len(parts) == 4 and parts[2] in "tTwW":
                    entries.append((parts[3], int(parts[0], 16), int(parts[1], 16)))
            base = None
            for sym, off, _ in entries:
                try:
                    addr = lib.get_pointer_to_function(sym)
                except Exception:
                    addr = 0
                if addr:
                    base = addr - off
                    break
            if base is None:
                continue
            for sym, off, size in entries:
                out.setdefault(sym, (base + off, size))
    # unknown sizes: up to the next symbol
    ordered = sorted(out.items(), key=lambda kv: kv[1][0])
    for (sym, (addr, size)), nxt in zip(ordered, ordered[1:] + [(None, (0, 0))]):
        if size == 0:
            out[sym] = (addr, min(nxt[1][0] - addr, 1 << 20) if nxt[0] else 4096)
    return out


def write_perf_map(path: str | None = None) -> dict[str, tuple[int, int]]:
    syms = compiled_symbols()
    path = path or f"/tmp/perf-{os.getpid()}.map"
    with open(path, "w") as f:
        for sym, (addr, size) in sorted(syms.items(), key=lambda kv: kv[1][0]):
            f.write(f"{addr:x} {size:x} {sym}\n")
    return syms


def dump_functions(syms: dict[str, tuple[int, int]], fragment: str, prefix: str) -> list[tuple[str, int, str]]:
    """Write the machine code of every symbol whose name contains ``fragment`` to PREFIX.N.bin.

    Returns (symbol, address, file) per match.
    """
    out = []
    for k, name in enumerate(sorted(s for s in syms if fragment in s)):
        addr, size = syms[name]
        path = f"{prefix}.{k}.bin"
        with open(path, "wb") as f:
            f.write(ctypes.string_at(addr, size))
        out.append((name, addr, path))
    return out
