"""What the page's figures follow: the latest value of something (:class:`Latest`), and who draws it.

These replace HoloViews' ``Pipe``: a page sends into three or four of them at every update, and a
``Pipe.send`` costs about 100 µs of param machinery (events, watchers, precedence) against well under
a microsecond here.  Nothing else of HoloViews' streams was used: one value, a list of subscribers.
"""
from __future__ import annotations

from typing import Any, Callable


class Subscribed:
    """Subscribers, called in order after each change; one that fails does not stop the others."""

    def __init__(self) -> None:
        self._subscribers: list[Callable[[], Any]] = []

    def add_subscriber(self, fn: Callable[[], Any]) -> None:
        self._subscribers.append(fn)

    def _notify(self) -> None:
        # the first failure is raised once every subscriber has drawn, so the caller can log it
        failure = None
        for fn in list(self._subscribers):
            try:
                fn()
            except Exception as exc:
                if failure is None:
                    failure = exc
        if failure is not None:
            raise failure


class Latest(Subscribed):
    """One value (``data``; None until the first send); subscribers read it when it changes."""

    def __init__(self, data: Any = None) -> None:
        super().__init__()
        self.data = data

    def send(self, data: Any) -> None:
        self.data = data
        self._notify()
