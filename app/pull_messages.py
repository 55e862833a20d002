"""A page that reconnects gets its document with the arrays written inline, so that it can be redrawn.

When a page's websocket drops (a phone that slept, a school network that dropped for a moment), Bokeh's
client joins the same session again and asks for the whole document (``PULL-DOC-REQ``). Bokeh 3.9.2's
server sends the document's arrays as binary buffers after the JSON, but its client redraws an existing
page from the JSON alone (``replace_with_json`` is not given the buffers): every reconnected page failed
with "buffer for id=... not found" and kept showing what it showed when the connection dropped.

:func:`install` makes ``pull_doc_reply.create`` write the arrays into the JSON as base64
(``Document.to_json(deferred=False)``), which that client decodes without buffers. Every page pulls its
document once when it connects too; a whole page's document has few arrays (its curves come later, in
patches), and inline it is as large and as fast to build as before (322 against 329 kB, 267 against 272
ms for a built page with its figures). A Bokeh whose code differs keeps its own (recognised by the source
digest, app/replacing.py).
"""
from __future__ import annotations

import logging

from bokeh.protocol.messages.pull_doc_reply import PullDoc, pull_doc_reply

from app.replacing import Replacement

log = logging.getLogger("dendrite_lab.pull_messages")

# sha256 (first 16 digits) of the replaced function's source in the Bokeh checked (3.9.2)
_KNOWN = {"f138276ac344b45c"}


def _create(cls, request_id, document, **metadata):
    header = cls.create_header(request_id=request_id)
    return cls(header, metadata, PullDoc(doc=document.to_json(deferred=False)))


_REPLACEMENT = Replacement(pull_doc_reply, "create", _create, _KNOWN, log, "Bokeh's PULL-DOC-REPLY message")
install, uninstall, installed = _REPLACEMENT.install, _REPLACEMENT.uninstall, _REPLACEMENT.installed
