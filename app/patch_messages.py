"""A page update's message asks which models the browser already has only for the models it sends.

Every change to a page (a status line, a plot's new rows, the network picture) goes to the
browser as a ``PATCH-DOC`` message.  Bokeh builds each one with a serialiser primed with the whole
document's synced models (a set of all ~550 of them, then a dict of a reference object for each),
so that a model the browser has goes out as a reference, not in full.  A patch usually names one
or two models.  In a class that priming was 8-9 % of a server's event loop (py-spy, 30 training
sessions on two servers): building references for hundreds of models per message, dozens of
messages a second.

:func:`install` makes ``patch_doc.create`` use a serialiser that asks, for each model it meets,
whether the document has it and it is not new: the same answer Bokeh's set gives, since encoding
adds no model to the document.  The message is the same (tests/app/test_patch_messages.py); a Bokeh
whose code differs keeps its own (recognised by its source digest, app/replacing.py).
"""
from __future__ import annotations

import logging

from bokeh.core.serialization import Serializer
from bokeh.model import Model
from bokeh.protocol.messages.patch_doc import PatchJson, patch_doc

from app.replacing import Replacement

log = logging.getLogger("dendrite_lab.patch_messages")

# sha256 (first 16 digits) of the replaced function's source in the Bokeh checked (3.9.2)
_KNOWN = {"935344e7cc170e99"}


class SyncedSerializer(Serializer):
    """A serialiser whose references are the document's synced models, looked up as they are met."""

    def __init__(self, models) -> None:     # models: the document's DocumentModelManager
        super().__init__()
        self._in_doc = models._models
        self._new = models._new_models

    def get_ref(self, obj):
        ref = self._references.get(id(obj))
        if ref is None and isinstance(obj, Model) and self._in_doc.get(obj.id) is obj and obj not in self._new:
            ref = self._references[id(obj)] = obj.ref
        return ref

    def has_ref(self, obj) -> bool:
        return self.get_ref(obj) is not None


def _create(cls, events, **metadata):
    # Bokeh's own body, with the serialiser above in place of one primed with every synced model
    header = cls.create_header()
    if not events:
        raise ValueError("PATCH-DOC message requires at least one event")
    docs = {event.document for event in events}
    if len(docs) != 1:
        raise ValueError("PATCH-DOC message configured with events for more than one document")
    [doc] = docs
    serializer = SyncedSerializer(doc.models)
    patch_json = PatchJson(events=serializer.encode(events))
    doc.models.flush_synced(lambda model: not serializer.has_ref(model))
    msg = cls(header, metadata, patch_json)
    msg.add_buffers(*serializer.buffers)
    return msg


_REPLACEMENT = Replacement(patch_doc, "create", _create, _KNOWN, log, "Bokeh's PATCH-DOC message")
_ORIGINAL = _REPLACEMENT.original
install, uninstall, installed = _REPLACEMENT.install, _REPLACEMENT.uninstall, _REPLACEMENT.installed
