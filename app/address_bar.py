"""The address bar after a link with refused values: it shows the values in force instead.

Copying the address shares what runs, so a link whose values were refused gets its bar
rewritten.  The browser reports its own address once it connects; on a busy server that
report can arrive after the rewrite and undo it (seen once in CI), so for a while after the
rewrite every poll checks the bar and rewrites it again while it still shows a refused value.
The refused values come from the link as requested, not from the bar when the page opens: by then
Panel's sync may have written the values in force into the server's copy of the bar, and a watch
keyed on those missed the browser's report bringing the link back (on a loaded 2-core machine,
about half of such pages kept the refused link).
A value the student changes meanwhile is theirs and left alone.
"""
from __future__ import annotations

import json
import logging
import time
from urllib.parse import parse_qs

import panel as pn

log = logging.getLogger("dendrite_lab.page")

RECHECK_S = 10.0           # how long the address bar is watched after rewriting a link


def raw_query(search: str) -> dict[str, str]:
    """The query string's values as sent (the first of each name), undecoded by Panel."""
    return {k: v[0] for k, v in parse_qs((search or "").lstrip("?"), keep_blank_values=True).items()}


class LinkFix:
    """One page's rewrite of its address bar, and the watch that keeps it."""

    def __init__(self):
        self.in_force: dict[str, str] = {}      # name -> value in force, as the link writes it
        self.refused: dict[str, str] = {}       # name -> refused raw value the bar showed
        self.until = 0.0

    @property
    def watching(self) -> bool:
        return bool(self.in_force)

    def start(self, ctrl, names: list[str], link: str) -> None:
        """Rewrite the bar with the values in force of ``names``, refused by ``link`` (the query
        string the page was requested with)."""
        loc = pn.state.location
        if not names or loc is None:
            return
        fix = {}
        for name in names:
            value = ctrl.param[name].serialize(getattr(ctrl, name))
            fix[name] = value if isinstance(value, str) else json.dumps(value)
        self.in_force = fix
        self.refused = {k: v for k, v in raw_query(link).items() if k in fix}
        self.until = time.perf_counter() + RECHECK_S
        self._apply(loc)

    def recheck(self) -> None:
        """A poll: rewrite again if the bar shows a refused value; stop watching after a while."""
        loc = pn.state.location
        if loc is None or time.perf_counter() > self.until:
            self.stop()
            return
        now = raw_query(loc.search)
        if any(now.get(k) == v for k, v in self.refused.items()):
            self._apply(loc)

    def stop(self) -> None:
        self.in_force, self.refused = {}, {}

    def _apply(self, loc) -> None:
        try:
            loc.update_query(**self.in_force)
        except Exception as exc:      # the address bar is a convenience; never fail the page for it
            log.warning("could not rewrite the address bar: %s", exc)
            self.stop()
