"""Bokeh's property defaults, computed once instead of at every read, in the server process.

A page holds about 660 Bokeh models, 500 of them in its ten figures.  Bokeh computes a property's
default afresh each time it is read: the class's overridden defaults gathered over its whole MRO,
the value copied and validated again.  Two things read defaults by the thousand:

* serialising a model (the page's first document, every new model a patch sends) reads *every*
  property, set or not, and then keeps only the set ones (Bokeh's own TODO in
  ``HasProps.query_properties_with_values``): 250-290 ms of the event loop per page;
* each walk of a document (after every ``freeze``: a page's settings, each group of figures
  attached) reads every property that could hold a model.

So, once :func:`install` has run:

1. serialising without defaults reads only the properties it keeps;
2. a class's overridden defaults are gathered once per class;
3. a default that is an immutable scalar (None, bool, int, float, str), not themed and not one
   Bokeh recomputes per instance, is computed once per class and property.

None of them changes what Bokeh sends: tests/app/test_bokeh_defaults.py serialises a whole page
(figures included) with and without them and compares.  What is replaced is recognised by its
source; a Bokeh whose code differs keeps its own (``install`` returns False and says so in the log).
Measured with ``python -m benchmarks.page_cost``.
"""
from __future__ import annotations

import hashlib
import inspect
import logging

from bokeh.core.has_props import HasProps
from bokeh.core.property.descriptors import PropertyDescriptor, UnsetValueError
from bokeh.core.property.singletons import Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

log = logging.getLogger("dendrite_lab.bokeh_defaults")

_ORIGINAL = {
    "query": HasProps.query_properties_with_values,
    "overridden": HasProps.__dict__["_overridden_defaults"],
    "get_default": PropertyDescriptor._get_default,
}
# sha256 (first 16 digits) of the source of each replaced function, as in the Bokeh versions this
# module was checked with (3.9.2)
_KNOWN = {
    "query": {"e864a09d384658f4"},
    "overridden": {"c3b1c82a295e3b8b"},
    "get_default": {"6173b5a328b12fc3"},
}
_SCALARS = (type(None), bool, int, float, str)
_MISSING = object()
_scalar_defaults: dict[tuple[type, str], object] = {}
_class_overrides: dict[type, dict] = {}
_installed = [False]


def source_digest(fn) -> str:
    """The digest of a function's source, or "" where its source cannot be read (an install without .py files)."""
    fn = getattr(fn, "__func__", fn)
    try:
        return hashlib.sha256(inspect.getsource(fn).encode()).hexdigest()[:16]
    except (OSError, TypeError):
        return ""


def _query_properties_with_values(self, query, *, include_defaults=True, include_undefined=False):
    if include_defaults:
        return _ORIGINAL["query"](self, query, include_defaults=True, include_undefined=include_undefined)
    themed = self.themed_values()
    themed_keys = set(themed) if themed is not None else set()
    set_values, unstable = self._property_values, self._unstable_default_values
    result = {}
    for key in self.properties(_with_props=True):
        # Bokeh's own version reads the value first, then drops it unless one of these holds
        if key not in set_values and key not in unstable and key not in themed_keys:
            continue
        descriptor = self.lookup(key)
        if not query(descriptor):
            continue
        try:
            value = descriptor.get_value(self)
        except UnsetValueError:
            if not include_undefined:
                raise
            value = Undefined
        else:
            if key not in themed_keys and isinstance(value, PropertyValueContainer) and key in unstable:
                continue
        result[key] = value
    return result


def _overridden_defaults(cls) -> dict:
    # read-only for its one caller (Property.themed_default); a class's overrides are fixed when it is made
    found = _class_overrides.get(cls)
    if found is None:
        found = _class_overrides[cls] = _ORIGINAL["overridden"].__func__(cls)
    return found


def _get_default(self, obj):
    themed = obj.themed_values()
    if themed is not None and self.name in themed:
        return _ORIGINAL["get_default"](self, obj)
    key = (obj.__class__, self.name)
    value = _scalar_defaults.get(key, _MISSING)
    if value is not _MISSING:
        return value
    value = _ORIGINAL["get_default"](self, obj)
    if type(value) in _SCALARS and not self.has_unstable_default(obj):
        _scalar_defaults[key] = value
    return value


def install() -> bool:
    """Put the cheaper reads in place (once per process); False if this Bokeh's code is not the one checked."""
    if _installed[0]:
        return True
    unknown = [name for name, fn in _ORIGINAL.items() if source_digest(fn) not in _KNOWN[name]]
    if unknown:
        log.info("Bokeh's %s differ from the versions checked: its own property reads are kept",
                 ", ".join(unknown))
        return False
    HasProps.query_properties_with_values = _query_properties_with_values
    HasProps._overridden_defaults = classmethod(_overridden_defaults)
    PropertyDescriptor._get_default = _get_default
    _installed[0] = True
    return True


def uninstall() -> None:
    """Bokeh's own reads again (tests compare the two)."""
    HasProps.query_properties_with_values = _ORIGINAL["query"]
    HasProps._overridden_defaults = _ORIGINAL["overridden"]
    PropertyDescriptor._get_default = _ORIGINAL["get_default"]
    _scalar_defaults.clear()
    _class_overrides.clear()
    _installed[0] = False


def installed() -> bool:
    return _installed[0]
