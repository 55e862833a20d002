"""Which browser a page came from: a signed random id in an HttpOnly cookie, set by app/front_door.py.

A class behind one school address cannot be told apart by address, but one student's tabs
share their browser's cookies.  The id keeps one browser from taking many of the class's
training places, memory and grid points (app/seats.py, app/capacity.py, app/class_experiment.py),
and gives a browser that has one its own page budget (app/front_door.py), so one student's tabs
cannot use up the page loads of the address the class shares.  It names nobody and grants nothing
beyond that budget, which is why it is signed: an id is only ever made by a page load charged
to the address, so a script cannot mint itself fresh budgets by making ids up.  Clearing the
cookie gains no more than a second browser would.
"""
from __future__ import annotations

import hashlib
import hmac
import os
import re
import secrets

COOKIE = "dendrite_browser"
_RANDOM_HEX, _SIGNATURE_HEX = 24, 16
_VALID = re.compile(rf"[0-9a-f]{{{_RANDOM_HEX + _SIGNATURE_HEX}}}")
# deploy/serve.sh gives every server process the same key, so an id one server made is valid at the others
_KEY = (os.environ.get("BOKEH_SECRET_KEY") or secrets.token_hex(32)).encode()


def _signature(random_part: str, key: bytes) -> str:
    return hmac.new(key, random_part.encode(), hashlib.sha256).hexdigest()[:_SIGNATURE_HEX]


def new_id(key: bytes = _KEY) -> str:
    random_part = secrets.token_hex(_RANDOM_HEX // 2)
    return random_part + _signature(random_part, key)


def valid(value: str | None, key: bytes = _KEY) -> bool:
    """Whether ``value`` is an id this server (or one sharing its key) made."""
    if not value or _VALID.fullmatch(value) is None:
        return False
    return hmac.compare_digest(value[_RANDOM_HEX:], _signature(value[:_RANDOM_HEX], key))


def of_request(request) -> str | None:
    """The id app/front_door.py gave this page's request (None without the front door: one person's server)."""
    value = getattr(request, "dendrite_browser", None)
    return value if isinstance(value, str) and valid(value) else None
