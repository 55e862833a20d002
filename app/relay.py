"""A presented run followed from any server process, through files the servers share.

With several servers behind nginx (deploy/serve.sh), a presented run lives in the memory of the
server that trains it.  When every follower had to reach that server, its one event loop built
all 30 followers' pages beside the presented run while the other server stood idle: the last
follower saw its first figure 31-52 s after the class opened the link (benchmarks/README.md).

Here the presenter's server writes what it publishes (app/presenting.py) into a directory under
``DENDRITE_RELAY_DIR``, and any other server reading it keeps a :class:`Mirror`, a broadcast its
own followers read exactly as they read a local one.  The directory of a code holds:

- ``owner``: the token of the stage (server process) that presents it;
- ``alive``: touched every few seconds while the presenter's page polls;
- ``log-NNNNNN``: segments of length-prefixed pickled records.  Each segment starts with the whole
  state a late follower needs (the curves so far, the latest snapshot, the t-SNE map, the status),
  then one record per publication that changed something.  A new segment starts every
  ``SEGMENT_RECORDS`` records, and the one before the previous is removed, so a mirror opening
  late reads at most one segment;
- ``want/`` and ``answers/``: "Take it from here" on another server asks for the presenter's network
  by a file in ``want/``; the presenter's page answers between two polls with the same copy its
  own followers would get.

Only the servers write there (serve.sh makes the directory private to their user), and a record is
read back by an unpickler that builds nothing but the dashboard's own dataclasses and NumPy arrays
(:class:`_RecordUnpickler`): a file put there by anyone else can stop a mirror, never run code.
"""
from __future__ import annotations

import dataclasses
import io
import logging
import os
import pickle
import re
import shutil
import struct
import threading
import time
from typing import Any

log = logging.getLogger("dendrite_lab.relay")

RELAY_ENV = "DENDRITE_RELAY_DIR"
SEGMENT_RECORDS = 600        # about two minutes of a run's polls...
SEGMENT_BYTES = 8 << 20      # ...or 15-30 s of a spiking run's (its voltage traces: ~100 KB a poll)
ALIVE_EVERY_S = 2.0
DEAD_AFTER_S = 60.0          # a presenter's loop busy with 30 pages still polls within seconds
PULL_EVERY_S = 0.2           # a mirror reads the files at most this often, however many follow it
ASK_EVERY_S = 0.5            # the presenter looks for take-over requests at most this often
ANSWER_WAIT_S = 20.0
PENDING = object()           # a take-over asked for, not answered yet
SAME = "same"                # a record's run when it is the one of the record before
_HEADER = struct.Struct("<Q")
_SEGMENT = re.compile(r"^log-(\d{6})$")
_NONCE = re.compile(r"^[0-9a-f]{24}$")


# what a record may hold: the news' dataclasses (from these modules only, imported before any lookup)
# and NumPy arrays, dtypes and scalars
_RECORD_MODULES = frozenset({"app.controller", "app.events", "app.presenting", "app.tracker", "app.tsne",
                             "dendcore.snapshot", "dendcore.spec"})
_NUMPY_NAMES = frozenset({(m, n) for m in ("numpy.core.multiarray", "numpy._core.multiarray")
                          for n in ("_reconstruct", "scalar")}
                         | {(m, "_frombuffer") for m in ("numpy.core.numeric", "numpy._core.numeric")}
                         | {("numpy", "ndarray"), ("numpy", "dtype")})


class _RecordUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _NUMPY_NAMES:
            return super().find_class(module, name)
        if module in _RECORD_MODULES:
            found = super().find_class(module, name)
            if isinstance(found, type) and dataclasses.is_dataclass(found):
                return found
        raise pickle.UnpicklingError(f"a relay record may not hold {module}.{name}")


def loads(data: bytes):
    """A record written by :func:`pickle.dumps` on another server, with :class:`_RecordUnpickler`."""
    return _RecordUnpickler(io.BytesIO(data)).load()


def relay_root() -> str | None:
    """The shared directory, when this server has one (several servers on one host)."""
    root = os.environ.get(RELAY_ENV, "")
    return root if root and os.path.isdir(root) else None


def _segment_path(folder: str, k: int) -> str:
    return os.path.join(folder, f"log-{k:06d}")


def _segments(folder: str) -> list[int]:
    try:
        names = os.listdir(folder)
    except OSError:
        return []
    return sorted(int(m.group(1)) for m in map(_SEGMENT.match, names) if m)


def _write_atomic(path: str, data: bytes) -> None:
    tmp = f"{path}.tmp-{os.getpid()}-{threading.get_ident()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _alive(folder: str, now: float | None = None) -> bool:
    try:
        return (now or time.time()) - os.stat(os.path.join(folder, "alive")).st_mtime < DEAD_AFTER_S
    except OSError:
        return False


def relay_owner(folder: str) -> str | None:
    """The token of the stage that presents a code's directory (None: no such directory)."""
    try:
        with open(os.path.join(folder, "owner")) as f:
            return f.read().strip()
    except OSError:
        return None


def _newest_traces_only(up):
    """``up`` with voltage traces and probe activity on its newest snapshot only: a follower's page draws
    the newest, and the others were most of a record's bytes."""
    shown = list(up.snapshots) + list(up.progress)
    heavy = [s for s in shown if s.traces is not None or s.probe_activity is not None]
    if len(heavy) < 2:
        return up
    newest = max(shown, key=lambda s: s.examples_seen)

    def light(snaps):
        return [s if s is newest else dataclasses.replace(s, traces=None, probe_activity=None) for s in snaps]
    return dataclasses.replace(up, snapshots=light(up.snapshots), progress=light(up.progress))


class HeldElsewhere(Exception):
    """The code is presented by another server process right now."""


class RelayOut:
    """The presenter's side: its broadcast written for the other server processes."""

    def __init__(self, root: str, code: str, token: str):
        self.folder = os.path.join(root, code)
        self._claim(token)
        self._k = -1
        self._file = None
        self._records = 0
        self._last: tuple | None = None
        self._run = None
        self._alive_at = self._asked_at = 0.0
        self._broken = False

    def _claim(self, token: str) -> None:
        for _ in range(3):
            try:
                os.mkdir(self.folder, 0o700)
                break
            except FileExistsError:
                if relay_owner(self.folder) != token and _alive(self.folder):
                    raise HeldElsewhere(self.folder) from None
                shutil.rmtree(self.folder, ignore_errors=True)     # ours from before, or its server died
        else:
            raise OSError(f"cannot claim {self.folder}")
        for sub in ("want", "answers"):
            os.mkdir(os.path.join(self.folder, sub), 0o700)
        _write_atomic(os.path.join(self.folder, "owner"), token.encode())
        self._touch()

    def _touch(self) -> None:
        path = os.path.join(self.folder, "alive")
        with open(path, "ab"):
            pass
        os.utime(path)
        self._alive_at = time.monotonic()

    def publish(self, broadcast, up, run, status: str, ghost_status: str, in_force: str, settings: dict) -> None:
        """Write one publication (if it changed anything) and keep the directory alive; answer take-over
        requests.  Any failure turns this relay off with one warning: the presenter's page goes on."""
        if self._broken:
            return
        try:
            if self._file is None or self._records >= SEGMENT_RECORDS or self._file.tell() >= SEGMENT_BYTES:
                self._new_segment(broadcast)
            key = (status, ghost_status, in_force, settings)
            if not up.empty or key != self._last or run is not self._run:
                self._write(("up", _newest_traces_only(up), SAME if run is self._run else run, *key))
                self._last, self._run = key, run
            now = time.monotonic()
            if now - self._alive_at >= ALIVE_EVERY_S:
                self._touch()
            if now - self._asked_at >= ASK_EVERY_S:
                self._asked_at = now
                self._answer(broadcast)
        except Exception:           # noqa: BLE001  (a full disk must not stop a class's projected run)
            log.warning("the relay of %s stopped: followers on other servers see no more of it", self.folder,
                        exc_info=True)
            self._broken = True

    def _write(self, record) -> None:
        payload = pickle.dumps(record, protocol=pickle.HIGHEST_PROTOCOL)
        self._file.write(_HEADER.pack(len(payload)) + payload)
        self._file.flush()
        self._records += 1

    def _new_segment(self, broadcast) -> None:
        """The next segment, opened by the whole state so far; the one before the previous goes (a mirror
        still reading it keeps its open file)."""
        if self._file is not None:
            self._file.close()
        self._k += 1
        self._file = open(_segment_path(self.folder, self._k), "ab")
        self._records = 0
        self._write(("state", *broadcast.state_record()))
        self._run = broadcast.run
        if self._k >= 2:
            try:
                os.unlink(_segment_path(self.folder, self._k - 2))
            except FileNotFoundError:
                pass

    def _answer(self, broadcast) -> None:
        want = os.path.join(self.folder, "want")
        asked = [n for n in os.listdir(want) if _NONCE.match(n)]
        if not asked:
            return
        got = broadcast.ask_presenter()          # one copy of the network for every request waiting
        answers = os.path.join(self.folder, "answers")
        tmp = os.path.join(answers, f".state-{time.monotonic_ns()}")
        with open(tmp, "wb") as f:
            pickle.dump(got, f, protocol=pickle.HIGHEST_PROTOCOL)
        for n in asked:
            os.link(tmp, os.path.join(answers, n))
            os.unlink(os.path.join(want, n))
        os.unlink(tmp)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        shutil.rmtree(self.folder, ignore_errors=True)


class _RemotePresenter:
    """What a mirror's ``presenter`` is while the presenting server keeps the run alive."""
    engine = None


class Mirror:
    """Reads a presented run's directory into a broadcast (mixed into app.presenting's Broadcast)."""

    def _start_mirror(self, root: str) -> None:
        self.folder = os.path.join(root, self.code)
        self._pull_lock = threading.Lock()
        self._pulled = 0.0
        self._k = -1
        self._file = None
        self._remote = _RemotePresenter()
        self._asked: dict[str, float] = {}

    @property
    def presenter(self):
        return None if self.closed else self._remote

    def pull(self, force: bool = False) -> None:
        """Read what the presenter wrote since the last pull (at most every PULL_EVERY_S)."""
        now = time.monotonic()
        if self.closed or (not force and now - self._pulled < PULL_EVERY_S):
            return
        with self._pull_lock:
            if now - self._pulled < PULL_EVERY_S and not force:
                return
            self._pulled = now
            try:
                self._read()
            except (OSError, pickle.UnpicklingError, EOFError, AttributeError, ImportError, ValueError):
                log.warning("stopped following %s", self.folder, exc_info=True)
                self._end()

    def _end(self) -> None:
        self.closed = True
        if self._file is not None:
            self._file.close()
            self._file = None

    def _read(self) -> None:
        if not _alive(self.folder):
            self._end()
            return
        if self._file is not None and not any(k > self._k for k in _segments(self.folder)) \
                and not self._reading_the_newest():          # presented anew under the same code
            self._file.close()
            self._file = None
        if self._file is None and not self._open(apply_state=True):
            return
        while True:
            later = [k for k in _segments(self.folder) if k > self._k]
            for record in self._records():       # after listing: a next segment means this one is complete
                self._apply(record)
            if not later:
                return
            if not self._open(later[0] if later[0] == self._k + 1 else later[-1],
                              apply_state=later[0] != self._k + 1):
                return

    def _reading_the_newest(self) -> bool:
        """Whether the file being read is still the segment of its name (a code presented anew starts
        its segments over, in a new directory)."""
        try:
            return os.stat(_segment_path(self.folder, self._k)).st_ino == os.fstat(self._file.fileno()).st_ino
        except OSError:
            return False

    def _open(self, k: int | None = None, apply_state: bool = True) -> bool:
        """Start reading segment ``k`` (the newest when None) from its state record; False when it is
        not there yet (or not whole yet)."""
        if k is None:
            ks = _segments(self.folder)
            if not ks:
                return False
            k = ks[-1]
        try:
            f = open(_segment_path(self.folder, k), "rb")
        except FileNotFoundError:
            return False
        state = self._next_record(f)
        if state is None or state[0] != "state":
            f.close()
            return False
        if self._file is not None:
            self._file.close()
        self._file, self._k = f, k
        if apply_state:
            self.load_state(*state[1:])
        return True

    @staticmethod
    def _next_record(f):
        at = f.tell()
        head = f.read(_HEADER.size)
        if len(head) == _HEADER.size:
            (n,) = _HEADER.unpack(head)
            payload = f.read(n)
            if len(payload) == n:
                return loads(payload)
        f.seek(at)           # a record still being written: read it whole next time
        return None

    def _records(self):
        while (record := self._next_record(self._file)) is not None:
            yield record

    def _apply(self, record) -> None:
        if record[0] == "up":
            _, up, run, *rest = record
            self.publish_here(up, self.run if run == SAME else run, *rest)
        elif record[0] == "state":
            self.load_state(*record[1:])

    # ------------------------------------------------------------ take-over
    def ask_state(self) -> Any:
        """A ticket for the presenter's network (answered by the presenter's server between two polls)."""
        nonce = os.urandom(12).hex()
        try:
            with open(os.path.join(self.folder, "want", nonce), "x"):
                pass
        except OSError:
            return None
        self._asked[nonce] = time.monotonic()
        return nonce

    def answer(self, ticket) -> Any:
        """(spec, seed, dataset, state), None (no network, or no answer in time), or PENDING."""
        if ticket is None:
            return None
        path = os.path.join(self.folder, "answers", ticket)
        try:
            with open(path, "rb") as f:
                got = loads(f.read())
        except FileNotFoundError:
            if time.monotonic() - self._asked.get(ticket, 0.0) < ANSWER_WAIT_S and not self.closed:
                return PENDING
            got = None
        except (OSError, pickle.UnpicklingError, EOFError):
            got = None
        self._asked.pop(ticket, None)
        for leftover in (path, os.path.join(self.folder, "want", ticket)):
            try:
                os.unlink(leftover)
            except OSError:
                pass
        return got
