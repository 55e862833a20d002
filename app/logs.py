"""Keep the server's log bounded whatever a browser sends.

Values a browser or a link sends end up in log lines (a refused value is quoted in the
warning, the access log quotes the whole address), and Bokeh accepts websocket messages of
up to 20 MB: one refused 15 MB value grew the log by 15 MB, and a page flood wrote one line
per request.  :class:`BoundedLog` is a handler filter that

* cuts every message to ``max_chars`` and every traceback to ``max_trace_chars``
  (the cut is marked with the number of characters dropped), and
* lets at most ``burst`` warnings (or access-log lines) with the same message template
  through per ``window_s``; the next one that gets through says how many were suppressed.

It is installed on the handlers (a logger's own filters do not see records propagated
from its children), by :func:`install` from the server's start-up hook.
"""
from __future__ import annotations

import logging
import time
from typing import Callable

MAX_CHARS = 600
MAX_TRACE_CHARS = 4000
BURST = 5
WINDOW_S = 60.0
# always rate-limited whatever their level: one line per request
NOISY_LOGGERS = ("tornado.access",)


def shorten(text: str, limit: int = MAX_CHARS) -> str:
    """``text`` cut to about ``limit`` characters, saying how much was dropped."""
    if len(text) <= limit:
        return text
    keep = max(limit - 40, 10)
    return f"{text[:keep]}… [{len(text) - keep} characters cut]"


class BoundedLog(logging.Filter):
    def __init__(self, max_chars: int = MAX_CHARS, max_trace_chars: int = MAX_TRACE_CHARS,
                 burst: int = BURST, window_s: float = WINDOW_S,
                 clock: Callable[[], float] = time.monotonic):
        super().__init__()
        self.max_chars = max_chars
        self.max_trace_chars = max_trace_chars
        self.burst = burst
        self.window_s = window_s
        self._clock = clock
        self._seen: dict[tuple, list] = {}      # template key -> [window start, passed, suppressed]
        self._formatter = logging.Formatter()

    def _limited(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.name in NOISY_LOGGERS

    def _key(self, record: logging.LogRecord) -> tuple:
        # the template, not the formatted text: "refused %s" with a different value each time is one key
        return record.name, record.levelno, str(record.msg)[:200]

    def filter(self, record: logging.LogRecord) -> bool:
        # a record that reaches several handlers is judged once
        verdict = getattr(record, "_dl_verdict", None)
        if verdict is not None:
            return verdict
        record._dl_verdict = verdict = self._judge(record)
        return verdict

    def _judge(self, record: logging.LogRecord) -> bool:
        _quiet_closed_tab(record)
        note = ""
        if self._limited(record):
            now = self._clock()
            key = self._key(record)
            state = self._seen.get(key)
            if state is None or now - state[0] >= self.window_s:
                suppressed = state[2] if state else 0
                state = self._seen[key] = [now, 0, 0]
                if suppressed:
                    note = f" ({suppressed} more like this suppressed)"
                if len(self._seen) > 2000:      # templates are few; this only guards against surprises
                    self._prune(now)
            if state[1] >= self.burst:
                state[2] += 1
                return False
            state[1] += 1
        self._bound(record, note)
        return True

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._seen.items() if now - s[0] >= self.window_s]:
            del self._seen[key]

    def _bound(self, record: logging.LogRecord, note: str) -> None:
        try:
            message = record.getMessage()
        except Exception:               # a broken format string: let logging report it as usual
            return
        message = shorten(message, self.max_chars) + note
        if message != record.msg or record.args:
            record.msg, record.args = message, None
        if record.exc_info and not record.exc_text:
            record.exc_text = self._formatter.formatException(record.exc_info)
        if record.exc_text and len(record.exc_text) > self.max_trace_chars:
            # the end of a traceback names the error; keep it rather than the start
            cut = len(record.exc_text) - self.max_trace_chars
            record.exc_text = f"[{cut} characters of traceback cut] …" + record.exc_text[-self.max_trace_chars:]
            record.exc_text = _shorten_lines(record.exc_text, self.max_chars)
        elif record.exc_text:
            record.exc_text = _shorten_lines(record.exc_text, self.max_chars)
        if record.stack_info and len(record.stack_info) > self.max_trace_chars:
            record.stack_info = record.stack_info[-self.max_trace_chars:]


# What tornado raises when it writes to a websocket whose tab was closed a moment earlier: an everyday
# event in a classroom (a student closes a laptop), not a fault of the server.
CLOSED_CONNECTION_ERRORS = ("WebSocketClosedError", "StreamClosedError")


def _quiet_closed_tab(record: logging.LogRecord) -> None:
    """A closed tab's "Task exception was never retrieved" traceback, and a returning page's changes for
    models it no longer has, become one informational line."""
    exc = record.exc_info[1] if record.exc_info else None
    chain = []
    while exc is not None and len(chain) < 5:
        chain.append(type(exc).__name__)
        exc = exc.__context__
    if chain and chain[0] in CLOSED_CONNECTION_ERRORS:
        record.msg, record.args = "a browser tab closed while the server was writing to it (%s)", (chain[0],)
    elif chain and chain[0] == "UnknownReferenceError" and str(record.msg).startswith("error handling message"):
        # a page back after its session ended sends its controls' last values for the old session's models
        # before it learns it has a new one (app/limits.py): everyday on a school network, and harmless
        record.msg, record.args = "a page sent a change for a model its session does not hold (%s)", (
            shorten(str(record.exc_info[1]), 120),)
    else:
        return
    record.exc_info = record.exc_text = None
    record.levelno, record.levelname = logging.INFO, "INFO"


def _shorten_lines(text: str, limit: int) -> str:
    """A traceback whose lines are each cut (the exception line may quote the whole value)."""
    return "\n".join(shorten(line, limit) for line in text.split("\n"))


_INSTALLED: BoundedLog | None = None


def install(*logger_names: str) -> BoundedLog:
    """Put one shared :class:`BoundedLog` on the handlers of the root logger and of ``logger_names``.

    Idempotent; handlers added later (none are, after the server has started) are not covered.
    """
    global _INSTALLED
    if _INSTALLED is None:
        _INSTALLED = BoundedLog()
    loggers = [logging.getLogger()] + [logging.getLogger(n) for n in logger_names]
    for logger in loggers:
        for handler in logger.handlers:
            if _INSTALLED not in handler.filters:
                handler.addFilter(_INSTALLED)
    return _INSTALLED
