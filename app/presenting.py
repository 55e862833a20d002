"""Presenter mode: one session's run on every screen of the class, with one engine and many viewers.

A presenting session publishes every poll's news into a :class:`Broadcast` under a
short code; a following session (``/app?follow=CODE``) has no engine of its own
and draws the same news into its own plots.  A follower that opens late gets the
run so far in one catch-up update, then the news as they come.  Codes live in the
server process that hosts the presenter.  Behind nginx the config sends a link that presents
a code to the server its first character names, so each server makes codes that start with one
of its own characters (``DENDRITE_CODE_LETTERS``, deploy/README.md).  Servers that share a relay
directory (deploy/serve.sh) write their presented runs there, so a follow link works on any of
them (app/relay.py); elsewhere the page says the code is unknown on that server.
"""
from __future__ import annotations

import dataclasses
import logging
import os
import re
import secrets
import threading
import weakref
from collections import deque
from dataclasses import dataclass, field
from typing import Any

from dendcore import Snapshot

from .relay import HeldElsewhere, Mirror, RelayOut, relay_owner, relay_root

log = logging.getLogger("dendrite_lab.presenting")

CODE_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"     # no 0/O or 1/I to misread from the back row
CODE_LENGTH = 5
CODE_PATTERN = re.compile(r"^[A-Z0-9]{3,12}$")
RECENT = 600             # updates kept for followers that fall behind (about two minutes at 5 polls/s)
KEPT_SNAPSHOTS = 4000    # the catch-up's curve points (thinned by half beyond)


class PresentError(ValueError):
    """A code that cannot be presented or followed; the message is for the page."""


def normalise_code(text: Any) -> str:
    code = str(text).strip().upper()
    if not CODE_PATTERN.match(code):
        raise PresentError(f"“{code[:20]}” is not a class code: 3 to 12 letters and digits.")
    return code


def code_letters() -> str:
    """The characters this server's codes start with: ``DENDRITE_CODE_LETTERS`` (those of them in the
    code alphabet), or any."""
    own = "".join(c for c in os.environ.get("DENDRITE_CODE_LETTERS", "").upper()[:64] if c in CODE_ALPHABET)
    return own or CODE_ALPHABET


def new_code() -> str:
    return secrets.choice(code_letters()) + "".join(secrets.choice(CODE_ALPHABET) for _ in range(CODE_LENGTH - 1))


def curve_points(snapshots) -> list[Snapshot]:
    """Snapshots without their voltage traces and probe activity, which only the latest one shows.

    Kept in every point of a presenter's curve, the traces (then ~300 Python lists per spiking
    snapshot) held 238 MB and 1.3 million objects for the garbage collector to walk after 4,000
    snapshots; without them 7 MB and 49,000 (``python -m benchmarks.presenter_memory``).
    """
    return [s if s.traces is None and s.probe_activity is None
            else dataclasses.replace(s, traces=None, probe_activity=None) for s in snapshots]


def _as_past(update):
    """An update that is no longer the newest: its snapshots as curve points (a follower reading it
    together with newer ones shows the newest traces only)."""
    return dataclasses.replace(update, snapshots=curve_points(update.snapshots),
                               progress=curve_points(update.progress))


@dataclass
class _Curve:
    """One run's points so far (the main run's or the ghost's), for a late follower."""
    run_id: int = -1
    spec: Any = None
    label: str = ""
    snapshots: list[Snapshot] = field(default_factory=list)
    tests: list[tuple[int, float, int]] = field(default_factory=list)

    def take(self, news) -> None:
        if news.new_run or news.run_id != self.run_id:
            self.run_id, self.spec, self.label = news.run_id, news.spec, getattr(news, "label", "")
            self.snapshots, self.tests = [], []
        self.snapshots.extend(curve_points(news.snapshots))
        self.tests.extend(news.tests)
        if len(self.snapshots) > KEPT_SNAPSHOTS:
            self.snapshots = self.snapshots[1::2]


class Broadcast:
    """A presenter's news, numbered, for any number of followers (thread-safe)."""

    def __init__(self, code: str, presenter):
        self.code = code
        self._presenter = weakref.ref(presenter)
        self._lock = threading.Lock()
        self._recent: deque[tuple[int, Any]] = deque(maxlen=RECENT)
        self.seq = 0
        self.closed = False
        self.run = None                  # the presenter's RunInfo
        self.status = self.ghost_status = self.in_force = ""
        self.settings: dict[str, Any] = {}
        self._main = _Curve()
        self._ghost = _Curve()
        self._latest: Snapshot | None = None
        self._tsne = None
        self.relay: RelayOut | None = None       # the run written for other server processes

    @property
    def presenter(self):
        return self._presenter()

    def publish(self, up, run, status: str, ghost_status: str, in_force: str, settings: dict) -> None:
        if self.relay is not None:      # first: a new segment starts from the state before this update
            self.relay.publish(self, up, run, status, ghost_status, in_force, settings)
        self.publish_here(up, run, status, ghost_status, in_force, settings)

    def publish_here(self, up, run, status: str, ghost_status: str, in_force: str, settings: dict) -> None:
        with self._lock:
            self.run, self.status, self.ghost_status, self.in_force = run, status, ghost_status, in_force
            self.settings = settings
            if up.empty:
                return
            self._main.take(up)
            shown = list(up.snapshots) + list(up.progress)
            if shown:
                self._latest = max(shown, key=lambda s: s.examples_seen)
            if up.new_run:
                self._tsne = None
            if up.tsne is not None:
                self._tsne = up.tsne
            if up.ghost is not None:
                self._ghost.take(up.ghost)
            if self._recent:
                seq, past = self._recent[-1]
                self._recent[-1] = (seq, _as_past(past))
            self.seq += 1
            self._recent.append((self.seq, up))

    def since(self, seq: int):
        """(newest seq, updates after ``seq``), or None when the follower fell too far behind."""
        with self._lock:
            if seq == self.seq:
                return seq, []
            if not self._recent or self._recent[0][0] > seq + 1:
                return None
            return self.seq, [u for s, u in self._recent if s > seq]

    def catch_up(self, update_type, ghost_type):
        """(seq, one update holding the run so far) for a follower that starts now."""
        with self._lock:
            m, g = self._main, self._ghost
            up = update_type(run_id=m.run_id, new_run=True, spec=m.spec, snapshots=list(m.snapshots),
                             tests=list(m.tests), tsne=self._tsne,
                             progress=[self._latest] if self._latest is not None else [])
            if g.spec is not None:
                up.ghost = ghost_type(run_id=g.run_id, new_run=True, spec=g.spec, label=g.label,
                                      snapshots=list(g.snapshots), tests=list(g.tests))
            return self.seq, up

    def state_record(self) -> tuple:
        """Everything a late follower needs, as :meth:`load_state` takes it (for app/relay.py)."""
        with self._lock:
            return (dataclasses.replace(self._main, snapshots=list(self._main.snapshots), tests=list(self._main.tests)),
                    dataclasses.replace(self._ghost, snapshots=list(self._ghost.snapshots),
                                        tests=list(self._ghost.tests)),
                    self._latest, self._tsne, self.run, self.status, self.ghost_status, self.in_force,
                    dict(self.settings))

    def load_state(self, main, ghost, latest, tsne, run, status, ghost_status, in_force, settings) -> None:
        """Start over from a :meth:`state_record`: every follower catches up from it."""
        with self._lock:
            self._main, self._ghost, self._latest, self._tsne = main, ghost, latest, tsne
            self.run, self.status, self.ghost_status, self.in_force = run, status, ghost_status, in_force
            self.settings = settings
            self._recent.clear()
            self.seq += 1

    # "Take it from here": a ticket, then its answer (a mirror's answer comes from another process)
    def ask_state(self):
        return "here"

    def answer(self, ticket):
        return self.ask_presenter()

    def ask_presenter(self):
        """(spec, seed, dataset, state) of the presenter's network, copied between two of its chunks;
        None when it has none."""
        presenter = self.presenter
        engine = presenter.engine if presenter is not None else None
        return engine.request_state() if engine is not None else None


class MirroredBroadcast(Mirror, Broadcast):
    """A run presented by another server process, read from the relay directory as its followers poll."""

    def __init__(self, code: str, root: str):
        Broadcast.__init__(self, code, presenter=self)     # (``presenter`` is Mirror's: the other process's)
        self._start_mirror(root)

    def since(self, seq: int):
        self.pull()
        return Broadcast.since(self, seq)

    def catch_up(self, update_type, ghost_type):
        self.pull()
        return Broadcast.catch_up(self, update_type, ghost_type)


class Stage:
    """The codes being presented in this server process."""

    def __init__(self):
        self._lock = threading.Lock()
        self._open: dict[str, Broadcast] = {}
        self._mirrors: dict[str, MirroredBroadcast] = {}
        self.token = secrets.token_hex(8)        # tells this process's codes in the relay directory

    def open(self, presenter, code: str | None = None) -> Broadcast:
        with self._lock:
            if code is None:
                code = new_code()
                while code in self._open:
                    code = new_code()
            code = normalise_code(code)
            held = self._open.get(code)
            if held is not None and not held.closed and held.presenter not in (None, presenter):
                raise PresentError(f"The code {code} is already being presented here; pick another one.")
            b = Broadcast(code, presenter)
            if held is not None and held.relay is not None:
                held.relay.close()
            root = relay_root()
            if root is not None:
                try:
                    b.relay = RelayOut(root, code, self.token)
                except HeldElsewhere:
                    raise PresentError(f"The code {code} is already being presented; pick another one.") from None
                except OSError as exc:          # followers on this server still see the run
                    log.warning("cannot relay %s to the other servers: %s", code, exc)
            self._open[code] = b
            return b

    def get(self, code: str) -> Broadcast | None:
        """The broadcast of ``code``: presented here, or by another server of the relay directory."""
        code = normalise_code(code)
        with self._lock:
            b = self._open.get(code) or self._mirrors.get(code)
            if b is not None and not b.closed:
                return b
            self._mirrors.pop(code, None)
            root = relay_root()
            if b is not None or root is None or not _presented_elsewhere(root, code, self.token):
                return None
            m = self._mirrors[code] = MirroredBroadcast(code, root)
        m.pull(force=True)
        return None if m.closed else m

    def close(self, broadcast: Broadcast) -> None:
        with self._lock:
            broadcast.closed = True
            if self._open.get(broadcast.code) is broadcast:
                del self._open[broadcast.code]
        if broadcast.relay is not None:
            broadcast.relay.close()

    def __len__(self) -> int:
        return len(self._open)


def _presented_elsewhere(root: str, code: str, token: str) -> bool:
    owner = relay_owner(os.path.join(root, code))
    return owner is not None and owner != token


STAGE = Stage()
