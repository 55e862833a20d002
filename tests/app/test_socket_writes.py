"""A page update written in one piece (app/socket_writes.py) reaches a real websocket client as the
same frames, in the same order, as Panel's own writes, and decodes to the same Bokeh message."""
import asyncio

import numpy as np
import pytest

pytest.importorskip("panel")

import panel.io.document as panel_document  # noqa: E402
from bokeh.document import Document  # noqa: E402
from bokeh.document.events import ColumnsStreamedEvent, ModelChangedEvent  # noqa: E402
from bokeh.models import ColumnDataSource, Div  # noqa: E402
from bokeh.protocol import Protocol  # noqa: E402
from bokeh.protocol.receiver import Receiver  # noqa: E402
from tornado.websocket import WebSocketProtocol13  # noqa: E402

from app import socket_writes  # noqa: E402
from benchmarks.socket_writes import Conn, loopback_websockets  # noqa: E402


def _patch_with_arrays():
    """A PATCH-DOC message like a training page's update: a text change and streamed arrays of all
    three frame-length classes (< 126 bytes, < 64 KiB, beyond)."""
    doc = Document()
    status = Div(text="<pre>examples seen: 0</pre>")
    source = ColumnDataSource({"x": np.zeros(0), "y": np.zeros(0), "z": np.zeros(0)})
    doc.add_root(status)
    doc.add_root(source)
    events = [ModelChangedEvent(doc, status, "text", "<pre>examples seen: 12,300 · épreuve</pre>"),
              ColumnsStreamedEvent(doc, source, "data", {"x": np.arange(3.0), "y": np.linspace(0, 1, 3000),
                                                         "z": np.random.default_rng(0).random(20000)}, None, None)]
    return Protocol().create("PATCH-DOC", events)


async def _received_frames(dispatch, msg, writes: list):
    async with loopback_websockets(1) as ([handler], [client]):
        stream = handler.ws_connection.stream
        real_write = stream.write
        stream.write = lambda data: writes.append(len(data)) or real_write(data)
        futures = dispatch(Conn(handler), msg=msg)
        await asyncio.gather(*futures)
        frames = [await client.read_message() for _ in range(3 + 2 * len(msg.buffers))]
        return frames, handler.ws_connection._wire_bytes_out


def _decoded(frames):
    async def consume():
        receiver = Receiver(Protocol())
        for f in frames:
            msg = await receiver.consume(f)
        return msg
    return asyncio.run(consume())


def test_one_write_sends_the_frames_panel_sends_one_by_one():
    msg = _patch_with_arrays()
    assert len(msg.buffers) == 3
    own_writes, one_writes = [], []
    own, own_bytes = asyncio.run(_received_frames(socket_writes._ORIGINAL, msg, own_writes))
    ours, our_bytes = asyncio.run(_received_frames(socket_writes.dispatch_tornado, msg, one_writes))
    assert len(own_writes) == 3 + 2 * 3, "Panel writes every fragment on its own"
    assert len(one_writes) == 1 and one_writes[0] == sum(own_writes) == our_bytes == own_bytes
    assert ours == own
    assert [type(f) for f in ours] == [str, str, str, str, bytes, str, bytes, str, bytes]
    got, expected = _decoded(ours), _decoded(own)
    assert got.header == expected.header and got.content == expected.content
    assert [b.to_bytes() for b in got.buffers] == [b.to_bytes() for b in msg.buffers]


def test_installed_for_the_panel_checked_and_removable():
    if not socket_writes.install():
        pytest.skip("this Panel's dispatch_tornado is not the one app/socket_writes.py was checked with")
    try:
        assert panel_document.dispatch_tornado is socket_writes.dispatch_tornado
        assert socket_writes.install() and socket_writes.installed()
    finally:
        socket_writes.uninstall()
    assert panel_document.dispatch_tornado is socket_writes._ORIGINAL and not socket_writes.installed()


def test_a_panel_with_other_code_keeps_its_own(monkeypatch):
    monkeypatch.setattr(socket_writes._REPLACEMENT, "known", {"0" * 16})
    assert socket_writes.install() is False and not socket_writes.installed()
    assert panel_document.dispatch_tornado is socket_writes._ORIGINAL


def test_a_closing_connection_gets_nothing():
    ws = object.__new__(WebSocketProtocol13)        # a connection whose close has begun
    ws._compressor, ws.mask_outgoing = None, False
    ws.client_terminated, ws.server_terminated = False, True
    ws.stream = type("Stream", (), {"closed": lambda self: False,
                                    "write": lambda self, data: pytest.fail("wrote to a closing socket")})()
    sock = type("Socket", (), {"ws_connection": ws})()
    assert socket_writes.dispatch_tornado(Conn(sock), msg=_patch_with_arrays()) == []
