"""A function of Bokeh's or Panel's replaced by the app's own, only where its source is the one checked.

app/patch_messages.py, app/pull_messages.py and app/socket_writes.py each replace one function of the
libraries' to fix or speed up what the server sends.  Each was written against one version's code, so the
replacement goes in only when the original's source digest is a known one; a library whose code
differs keeps its own, and the server logs which.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from app.bokeh_defaults import source_digest


class Replacement:
    """``owner.name`` replaced by ``ours`` (as a classmethod when the original is one)."""

    def __init__(self, owner: Any, name: str, ours: Callable, known: set[str], logger: logging.Logger, what: str):
        self.owner, self.name, self.ours = owner, name, ours
        self.original = owner.__dict__[name]
        self._classmethod = isinstance(self.original, classmethod)
        self.known, self._log, self._what = known, logger, what

    def install(self) -> bool:
        """Put ours in (once per process); False if the library's code is not the one checked."""
        if self.installed():
            return True
        if source_digest(self.original) not in self.known:
            self._log.info("%s differs from the version checked: its own is kept", self._what)
            return False
        setattr(self.owner, self.name, classmethod(self.ours) if self._classmethod else self.ours)
        return True

    def uninstall(self) -> None:
        """The library's own again (tests compare the two)."""
        setattr(self.owner, self.name, self.original)

    def installed(self) -> bool:
        now = self.owner.__dict__[self.name]
        return getattr(now, "__func__", now) is self.ours
