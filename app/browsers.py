"""Which browser a page came from: a random id in an HttpOnly cookie, set by app/front_door.py.

A class behind one school address cannot be told apart by address, but one student's tabs
share their browser's cookies.  The id is only used to keep one browser from taking many of
the class's training places (app/seats.py); it identifies nobody and grants nothing, so a
student who clears it gains no more than a second browser would.
"""
from __future__ import annotations

import re
import secrets

COOKIE = "dendrite_browser"
_VALID = re.compile(r"[0-9a-f]{32}")


def valid(value: str | None) -> bool:
    return bool(value) and _VALID.fullmatch(value) is not None


def new_id() -> str:
    return secrets.token_hex(16)


def of_request(request) -> str | None:
    """The id app/front_door.py gave this page's request (None without the front door: one person's server)."""
    value = getattr(request, "dendrite_browser", None)
    return value if isinstance(value, str) and valid(value) else None
