"""Memory a network costs, and a per-session and per-server budget for it.

Building a network needed no training place, so ten tabs with ``hidden=2000-2000-2000`` took
1 GB of the server without anyone pressing Play.  :func:`session_bytes` estimates what a
session's networks hold; :class:`MemoryBudget` lets a session build one only while the
server's networks together stay within ``DENDRITE_MEMORY_BUDGET_MB`` and the session's within
``DENDRITE_SESSION_MEMORY_MB`` and the tabs of one browser (app/browsers.py) together within
``DENDRITE_BROWSER_MEMORY_MB``, and otherwise gives the sentence the page shows.

The estimate is calibrated on :class:`dendcore.Trainer`: its arrays hold 8.4–9.8 bytes per
forward weight (float64 weights, the feedback weights and the training state; measured with
tracemalloc for 500 to 2000-2000-2000 hidden units, spiking and rate mode), and building one
briefly needs about 1.8 times what it keeps.  What a page holds besides its networks (plots,
widgets, history) adds about 20 MB.
"""
from __future__ import annotations

import os
import threading
from typing import Iterable

from .compute import SERVERS
from .seats import PER_BROWSER

N_INPUTS, N_OUTPUTS = 784, 10
BYTES_PER_WEIGHT = 10.0         # above every measured network (8.4–9.8), so the budget errs on the safe side
BYTES_PER_UNIT = 512            # per-neuron state (voltages, traces, plateau buffers)
FIXED_BYTES = 1 << 20
PAGE_BYTES = 20 << 20           # a page's plots, widgets and history
BUILD_PEAK_FACTOR = 1.8         # building a network briefly needs this much more than it keeps
MB = 1 << 20


def layer_sizes(hidden: Iterable[int], n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS) -> tuple[int, ...]:
    return (int(n_inputs), *(int(h) for h in hidden), int(n_outputs))


def network_bytes(hidden: Iterable[int], n_inputs: int = N_INPUTS, n_outputs: int = N_OUTPUTS) -> int:
    """Bytes one trainer of this architecture keeps (an upper estimate)."""
    sizes = layer_sizes(hidden, n_inputs, n_outputs)
    weights = sum(a * b for a, b in zip(sizes[:-1], sizes[1:]))
    feedback = sum(sizes[1:-1]) * n_outputs
    units = sum(sizes)
    return int(BYTES_PER_WEIGHT * (weights + feedback) + BYTES_PER_UNIT * units + FIXED_BYTES)


def session_bytes(hidden: Iterable[int], ghost: bool = False, **sizes) -> int:
    """Bytes a session with this network (and its ghost, which has the same architecture) holds."""
    return PAGE_BYTES + network_bytes(hidden, **sizes) * (2 if ghost else 1)


def describe(hidden: Iterable[int]) -> str:
    return "-".join(str(n) for n in layer_sizes(hidden))


def _mb(n: float) -> str:
    return f"{n / MB:,.0f} MB"


class MemoryBudget:
    """Reservations of memory per owner (one per session), against a server total and a per-owner cap."""

    def __init__(self, total_bytes: int, per_session_bytes: int, per_browser_bytes: int | None = None):
        if per_browser_bytes is None:       # as many pages' worth as one browser may train at once
            per_browser_bytes = PER_BROWSER * per_session_bytes
        if total_bytes <= 0 or per_session_bytes <= 0 or per_browser_bytes <= 0:
            raise ValueError("budgets must be positive")
        self.total_bytes = int(total_bytes)
        self.per_session_bytes = int(per_session_bytes)
        # a class shares one address, so one student's tabs are told apart by their browser: without
        # this, ten tabs of the largest network took the memory other students' networks need
        self.per_browser_bytes = int(per_browser_bytes)
        self._held: dict[int, int] = {}
        self._browser: dict[int, str] = {}
        self._lock = threading.Lock()

    @property
    def in_use(self) -> int:
        with self._lock:
            return sum(self._held.values())

    def reserve(self, owner: int, nbytes: int, what: str = "this network", browser: str | None = None) -> str | None:
        """Reserve ``nbytes`` for ``owner`` (replacing what it held) of ``browser``'s tabs: None, or why
        not (for the page)."""
        nbytes = int(nbytes)
        if nbytes > self.per_session_bytes:
            return (f"{what} would need about {_mb(nbytes)}, more than one page may use "
                    f"({_mb(self.per_session_bytes)}); choose smaller hidden layers.")
        with self._lock:
            others = sum(v for k, v in self._held.items() if k != owner)
            if others + nbytes > self.total_bytes:
                free = max(0, self.total_bytes - others)
                return (f"The server is short of memory: {what} would need about {_mb(nbytes)}, and "
                        f"{_mb(free)} of the {_mb(self.total_bytes)} for networks are free. Choose smaller "
                        "hidden layers or try again when other students have left.")
            if browser:
                tabs = sum(v for k, v in self._held.items() if k != owner and self._browser.get(k) == browser)
                if tabs + nbytes > self.per_browser_bytes:
                    return (f"This browser's other tabs hold {_mb(tabs)} of networks, and {what} would need about "
                            f"{_mb(nbytes)}: more than one browser may hold ({_mb(self.per_browser_bytes)}). "
                            "Close a tab or choose smaller hidden layers.")
                self._browser[owner] = browser
            else:
                self._browser.pop(owner, None)
            self._held[owner] = nbytes
        return None

    def release(self, owner: int) -> None:
        with self._lock:
            self._held.pop(owner, None)
            self._browser.pop(owner, None)


def machine_bytes() -> int | None:
    """The memory this process may use: the cgroup's limit when there is one, else the machine's."""
    for path in ("/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"):
        try:
            with open(path) as f:
                raw = f.read(64).strip()
        except OSError:
            continue
        if raw.isdigit() and int(raw) < 1 << 60:
            return int(raw)
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def _env_mb(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    if len(raw) > 12 or not raw.isdigit() or int(raw) < 1:
        raise ValueError(f"{name}={raw[:20]!r} must be a whole number of MB, at least 1")
    return int(raw) * MB


def budget_from_env() -> MemoryBudget:
    """``DENDRITE_MEMORY_BUDGET_MB`` (default: half the memory this process may use, shared by the
    DENDRITE_SERVERS processes of deploy/serve.sh, at least 1 GB)
    ``DENDRITE_SESSION_MEMORY_MB`` (default: the largest network the page offers, with its ghost) and
    ``DENDRITE_BROWSER_MEMORY_MB`` (default: a session's times the trainings one browser may run, app/seats.py)."""
    machine = machine_bytes()
    default_total = max(1024 * MB, machine // 2 // SERVERS) if machine else 4096 * MB
    largest = session_bytes((2000, 2000, 2000), ghost=True)
    per_session = _env_mb("DENDRITE_SESSION_MEMORY_MB", largest)
    return MemoryBudget(_env_mb("DENDRITE_MEMORY_BUDGET_MB", default_total), per_session,
                        _env_mb("DENDRITE_BROWSER_MEMORY_MB", 0) or None)
