"""A page update goes to the browser in one socket write, not one per fragment.

A Bokeh message is several websocket frames: a header, metadata and content (JSON), then a small
JSON reference and a binary payload for every array it carries.  Panel's ``dispatch_tornado`` hands
each of them to Tornado on its own, and Tornado sends each at once: a training page's update with
its 12-19 arrays took 27-41 ``send`` calls, each with an asyncio task to watch it, and behind nginx
as many reads and writes again in the proxy.  With 30 followers on two servers that was a third of
each server's event loop (py-spy, ``tornado``'s ``write_to_fd`` alone a fifth of it).

:func:`install` replaces ``panel.io.document.dispatch_tornado`` with one that frames every fragment
as Tornado would (RFC 6455: final, unmasked, uncompressed) and writes them together; the browser
receives the same frames in the same order (tests/app/test_socket_writes.py).  A connection with
compression or masking, or a Panel whose function differs (recognised by its source digest,
app/replacing.py), keeps Panel's own.
"""
from __future__ import annotations

import asyncio
import json
import logging
import struct

import panel.io.document as panel_document
from tornado.iostream import StreamClosedError
from tornado.websocket import WebSocketClosedError, WebSocketProtocol13

from app.replacing import Replacement

log = logging.getLogger("dendrite_lab.socket_writes")

# sha256 (first 16 digits) of the replaced function's source in the Panel checked (1.9.4)
_KNOWN = {"5cdc979ac80d2c8c"}

_TEXT, _BINARY = 0x1, 0x2


def frame(opcode: int, data: bytes) -> list[bytes]:
    """One final, unmasked websocket frame (RFC 6455 section 5.2): its head, then its payload."""
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | opcode, n)
    elif n <= 0xFFFF:
        head = struct.pack("!BBH", 0x80 | opcode, 126, n)
    else:
        head = struct.pack("!BBQ", 0x80 | opcode, 127, n)
    return [head, data]


def message_frames(msg) -> list[bytes]:
    """A Bokeh message's frames, in the order Panel sends them."""
    parts = []
    for text in (msg.header_json, msg.metadata_json, msg.content_json):
        parts += frame(_TEXT, text.encode("utf-8"))
    for buffer in msg._buffers:
        parts += frame(_TEXT, json.dumps(buffer.ref).encode("utf-8"))
        parts += frame(_BINARY, buffer.to_bytes())
    return parts


async def _sent(written) -> None:
    try:
        await written
    except StreamClosedError:
        raise WebSocketClosedError() from None      # what Panel's own writes raise, and it logs


def dispatch_tornado(conn, events=None, msg=None):
    """Panel's ``dispatch_tornado``, with the message's frames written together."""
    ws_conn = getattr(conn._socket, "ws_connection", None)
    if (not isinstance(ws_conn, WebSocketProtocol13) or ws_conn._compressor is not None
            or ws_conn.mask_outgoing):
        return _ORIGINAL(conn, events, msg)
    if ws_conn.is_closing():
        return []
    if msg is None:
        if not events:
            return []
        msg = conn.protocol.create("PATCH-DOC", events)
    data = b"".join(message_frames(msg))
    try:
        written = ws_conn.stream.write(data)
    except StreamClosedError:
        return []
    ws_conn._wire_bytes_out += len(data)
    return [asyncio.ensure_future(_sent(written))]


_REPLACEMENT = Replacement(panel_document, "dispatch_tornado", dispatch_tornado, _KNOWN, log,
                           "Panel's dispatch_tornado")
_ORIGINAL = _REPLACEMENT.original      # Panel's own: the fallback, and what tests compare against
install, uninstall, installed = _REPLACEMENT.install, _REPLACEMENT.uninstall, _REPLACEMENT.installed
