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

Making a model costs too (a page's figures: 1,600 models, 0.24 s).  Its ``__init__`` asks every
property of the class whether its default is made afresh for each instance (a list, a new model),
so as to make those at once, and ``Dict`` checks format their error message before checking.  So:

4. whether a property's default is per instance is worked out once per class and property, and
   ``__init__`` walks only the properties whose default is (in the class's order, as before);
5. a dict's check formats its message only when the dict fails it.

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
from bokeh.core.property.container import Dict
from bokeh.core.property.descriptors import PropertyDescriptor, UnsetValueError
from bokeh.core.property.singletons import Intrinsic, Undefined
from bokeh.core.property.wrappers import PropertyValueContainer

log = logging.getLogger("dendrite_lab.bokeh_defaults")

_ORIGINAL = {
    "query": HasProps.query_properties_with_values,
    "overridden": HasProps.__dict__["_overridden_defaults"],
    "get_default": PropertyDescriptor._get_default,
    "init": HasProps.__init__,
    "unstable": PropertyDescriptor.has_unstable_default,
    "dict_validate": Dict.validate,
}
# sha256 (first 16 digits) of the source of each replaced function, as in the Bokeh versions this
# module was checked with (3.9.2)
_KNOWN = {
    "query": {"e864a09d384658f4"},
    "overridden": {"c3b1c82a295e3b8b"},
    "get_default": {"6173b5a328b12fc3"},
    "init": {"8184f3bb9444ab37"},
    "unstable": {"5508a373943696c6"},
    "dict_validate": {"77a1789b3ab232ec"},
}
_SCALARS = (type(None), bool, int, float, str)
_MISSING = object()
_scalar_defaults: dict[tuple[type, str], object] = {}
_class_overrides: dict[type, dict] = {}
_unstable: dict[tuple[type, PropertyDescriptor], bool] = {}
_per_instance: dict[type, list] = {}
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


def _has_unstable_default(self, obj) -> bool:
    # Bokeh's answer depends on the property and the class's overridden defaults only
    key = (obj.__class__, self)
    found = _unstable.get(key)
    if found is None:
        found = _unstable[key] = _ORIGINAL["unstable"](self, obj)
    return found


def _init(self, **properties) -> None:
    super(HasProps, self).__init__()
    self._property_values = {}
    self._unstable_default_values = {}
    self._unstable_themed_values = {}
    for name, value in properties.items():
        if value is Undefined or value is Intrinsic:
            continue
        setattr(self, name, value)
    cls = self.__class__
    per_instance = _per_instance.get(cls)
    if per_instance is None:
        descriptors = ((name, cls.lookup(name)) for name in cls.properties(_with_props=True))
        per_instance = _per_instance[cls] = [(n, d) for n, d in descriptors if d.has_unstable_default(self)]
    for name, descriptor in per_instance:
        if name not in properties:
            descriptor._get(self)      # makes this instance's own default now, as Bokeh does
    self._initialized = True


def _dict_validate(self, value, detail=True) -> None:
    if isinstance(value, dict):
        super(Dict, self).validate(value, detail)
        key_is_valid, value_is_valid = self.keys_type.is_valid, self.values_type.is_valid
        if all(key_is_valid(k) and value_is_valid(v) for k, v in value.items()):
            return
    _ORIGINAL["dict_validate"](self, value, detail)      # the failure, with Bokeh's own message


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
    HasProps.__init__ = _init
    PropertyDescriptor.has_unstable_default = _has_unstable_default
    Dict.validate = _dict_validate
    _installed[0] = True
    return True


def uninstall() -> None:
    """Bokeh's own reads again (tests compare the two)."""
    HasProps.query_properties_with_values = _ORIGINAL["query"]
    HasProps._overridden_defaults = _ORIGINAL["overridden"]
    PropertyDescriptor._get_default = _ORIGINAL["get_default"]
    HasProps.__init__ = _ORIGINAL["init"]
    PropertyDescriptor.has_unstable_default = _ORIGINAL["unstable"]
    Dict.validate = _ORIGINAL["dict_validate"]
    _scalar_defaults.clear()
    _class_overrides.clear()
    _unstable.clear()
    _per_instance.clear()
    _installed[0] = False


def installed() -> bool:
    return _installed[0]
