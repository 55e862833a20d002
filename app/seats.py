"""The class's training places: how many sessions of this server process train at the same time.

A session that finds no free place watches (its page says why, and says so again when a
place frees up); the ghost run of a session takes a place of its own while it plays.
"""
from __future__ import annotations

import os
import threading

from .compute import env_number

CLASS_FULL = ("The class is full — you can watch: {n} training on this server right now, the most it runs at "
              "once. Meanwhile the error plot shows the whole reference run where this setup has one, Step "
              "trains your network one example at a time, and ▶ Play works as soon as a place is free (this "
              "note will say so).")
PLACE_FREE = "A place is free now: press ▶ Play to train your network."
REFUSED = "The class is full — ▶ Play was refused for now; see the note above."


class TrainingSlots:
    """A cap on how many sessions of this server process train at the same time."""

    def __init__(self, capacity: int):
        self.capacity = max(1, int(capacity))
        self._held: set[int] = set()
        self._lock = threading.Lock()

    def acquire(self, owner: int) -> bool:
        with self._lock:
            if owner in self._held:
                return True
            if len(self._held) >= self.capacity:
                return False
            self._held.add(owner)
            return True

    def release(self, owner: int) -> None:
        with self._lock:
            self._held.discard(owner)

    @property
    def in_use(self) -> int:
        return len(self._held)

    @property
    def free(self) -> int:
        return max(0, self.capacity - len(self._held))

    def full_text(self) -> str:
        n = self.capacity
        return CLASS_FULL.format(n=f"{n} network is" if n == 1 else f"{n} networks are")

    def watching_note(self, current: str) -> tuple[str, str] | None:
        """The class note a watching session should show now as (text, kind), or None to keep ``current``."""
        if self.free:
            return None if current == PLACE_FREE else (PLACE_FREE, "success")
        return (self.full_text(), "warning") if current == PLACE_FREE else None


SLOTS = TrainingSlots(env_number("DENDRITE_MAX_TRAININGS", 2 * (os.cpu_count() or 1), minimum=1, integer=True))
