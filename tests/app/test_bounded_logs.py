"""app/logs.py: log lines cut to a bounded length, repeated warnings rate-limited."""
import io
import logging

import pytest

from app.logs import BoundedLog, shorten


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


@pytest.fixture
def captured():
    """A logger with one handler writing to a string, filtered by a fresh BoundedLog."""
    clock = Clock()
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    bound = BoundedLog(max_chars=300, max_trace_chars=1000, burst=3, window_s=60, clock=clock)
    handler.addFilter(bound)
    logger = logging.getLogger("test_bounded_logs")
    logger.handlers[:] = [handler]
    logger.propagate = False
    logger.setLevel(logging.INFO)
    yield logger, stream, clock
    logger.handlers.clear()


def test_shorten():
    assert shorten("abc", 10) == "abc"
    cut = shorten("x" * 100_000, 300)
    assert len(cut) < 320 and cut.endswith("characters cut]") and "99740" in cut


def test_a_huge_refused_value_adds_a_bounded_line(captured):
    logger, stream, _ = captured
    huge = "9" * 15_000_000
    logger.warning("refused a change from the browser: %s", ValueError(f"value {huge!r} is not an int"))
    assert 0 < len(stream.getvalue()) < 1000


def test_a_huge_traceback_is_cut_and_keeps_its_end(captured):
    logger, stream, _ = captured
    try:
        int("1" * 5000 + "x")
    except ValueError:
        logger.exception("callback failed for %s", "7" * 100_000)
    text = stream.getvalue()
    assert len(text) < 2500
    assert "ValueError" in text and "characters cut" in text


def test_repeated_warnings_are_rate_limited_and_counted(captured):
    logger, stream, clock = captured
    for i in range(50):
        logger.warning("refused value %s", i)
    assert stream.getvalue().count("refused value") == 3
    logger.warning("another kind of warning")       # a different template has its own allowance
    logger.info("an info line %s", 1)
    logger.info("an info line %s", 2)
    logger.info("an info line %s", 3)
    logger.info("an info line %s", 4)                 # info lines are not rate-limited
    clock.t += 61
    logger.warning("refused value %s", "late")
    lines = stream.getvalue().splitlines()
    assert "another kind of warning" in lines[3]
    assert sum("an info line" in line for line in lines) == 4
    assert lines[-1].endswith("refused value late (47 more like this suppressed)")


def test_access_log_lines_are_rate_limited_at_any_level(captured):
    _, stream, _ = captured
    access = logging.getLogger("tornado.access")
    handler = logging.getLogger("test_bounded_logs").handlers[0]
    access.addHandler(handler)
    access.propagate, access.level = False, logging.INFO
    try:
        for _ in range(20):
            access.info("%d %s %.2fms", 200, "GET /app?seed=" + "1" * 30_000, 1.0)
    finally:
        access.removeHandler(handler)
        access.propagate = True
    text = stream.getvalue()
    assert text.count("GET /app") == 3 and len(text) < 3 * 400


def test_a_record_seen_by_two_handlers_is_counted_once(captured):
    logger, stream, _ = captured
    second = io.StringIO()
    other = logging.StreamHandler(second)
    other.addFilter(logger.handlers[0].filters[0])
    logger.addHandler(other)
    for i in range(3):
        logger.warning("twice %s", i)
    assert stream.getvalue().count("twice") == 3 and second.getvalue().count("twice") == 3


def test_a_tab_closed_mid_write_is_one_line_not_a_traceback(captured):
    from tornado.iostream import StreamClosedError
    from tornado.websocket import WebSocketClosedError
    logger, stream, _ = captured
    try:
        try:
            raise StreamClosedError()
        except StreamClosedError:
            raise WebSocketClosedError()
    except WebSocketClosedError as exc:
        logger.error("Task exception was never retrieved\nfuture: <Task finished exception=%r>", exc,
                     exc_info=(type(exc), exc, exc.__traceback__))
    try:
        raise KeyError("a real fault")
    except KeyError:
        logger.exception("callback failed")
    text = stream.getvalue()
    assert "INFO test_bounded_logs: a browser tab closed while the server was writing to it (WebSocketClosedError)" in text
    assert text.count("Traceback") == 1 and "KeyError" in text     # other errors keep their traceback


def test_a_returning_pages_changes_for_models_it_no_longer_has_are_one_line(captured):
    """A page back after its session ended (app/limits.py) sends its controls' last values for the old
    session's models: Bokeh's protocol handler logged a traceback for each."""
    from bokeh.core.serialization import UnknownReferenceError
    logger, stream, _ = captured
    try:
        raise UnknownReferenceError("p1096")
    except UnknownReferenceError as exc:
        logger.error("error handling message\n message: %r \n error: %r", "PATCH-DOC", exc, exc_info=True)
    try:
        raise UnknownReferenceError("p7")
    except UnknownReferenceError:
        logger.exception("something else failed")
    text = stream.getvalue()
    assert "INFO test_bounded_logs: a page sent a change for a model its session does not hold" in text
    assert "p1096" in text and text.count("Traceback") == 1, text     # only the other record keeps its traceback
