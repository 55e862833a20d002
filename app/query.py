"""A page address's query string screened before anything converts its values.

Panel's ``Location`` turns every all-digit value into an ``int``; Python refuses to
convert more than 4,300 digits (a guard against quadratic-time parsing), so a link with a
4,301-digit value in *any* parameter raised while the page was being built and every
visitor of that link got a blank page.  No setting of the dashboard needs a long value
(the longest, ``hidden=2000-2000-2000``, has 14 characters), so values longer than
:data:`MAX_VALUE_CHARS` or with a run of more than :data:`MAX_DIGITS` digits are refused
before any ``int()``/``float()``; a name given several times keeps its first value; at
most :data:`MAX_PARAMS` parameters are read.  :func:`install` makes Panel's ``Location``
parse through :func:`screen`, so a value is refused the same way whether it comes with the
page request or from the browser's report of its address.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import parse_qsl, urlencode

MAX_VALUE_CHARS = 200
MAX_NAME_CHARS = 40
MAX_DIGITS = 30
MAX_PARAMS = 40
_DIGIT_RUN = re.compile(r"\d{%d,}" % (MAX_DIGITS + 1))


@dataclass
class Screened:
    search: str                                         # the query string that is used ("" or "?a=1&b=2")
    refused: dict[str, str] = field(default_factory=dict)   # name -> why, for the page's message

    def message(self) -> str:
        """One sentence for the page, or "" when nothing was refused."""
        if not self.refused:
            return ""
        parts = [f"{name} ({why})" for name, why in list(self.refused.items())[:8]]
        more = len(self.refused) - len(parts)
        tail = f" and {more} more" if more > 0 else ""
        return ("The link contained values this page does not read: " + ", ".join(parts) + tail +
                "; the settings in force are used instead.")


def _shown(name: str) -> str:
    return name if len(name) <= MAX_NAME_CHARS else name[:MAX_NAME_CHARS - 1] + "…"


def screen(search: str | None) -> Screened:
    """Split ``search`` ('?a=1&…', as in ``window.location.search``) into what may be read and what not."""
    text = (search or "").lstrip("?")
    kept: dict[str, str] = {}
    refused: dict[str, str] = {}
    pairs = parse_qsl(text, keep_blank_values=True, max_num_fields=None)
    for count, (name, value) in enumerate(pairs):
        if count >= MAX_PARAMS:
            refused.setdefault("…", f"only the first {MAX_PARAMS} parameters are read")
            break
        shown = _shown(name)
        if len(name) > MAX_NAME_CHARS:
            refused[shown] = "name too long"
        elif name in kept or name in refused:
            refused.setdefault(shown, "given more than once; the first value is used")
        elif len(value) > MAX_VALUE_CHARS:
            refused[shown] = f"{len(value):,} characters, at most {MAX_VALUE_CHARS} are read"
        elif _DIGIT_RUN.search(value):
            refused[shown] = f"a number with more than {MAX_DIGITS} digits"
        else:
            kept[name] = value
    # a name refused for its value has no kept value; one given twice keeps its first
    search_out = ("?" + urlencode(kept)) if kept else ""
    return Screened(search_out, refused)


_ORIGINAL = None


def screened_parse_query(query: str) -> dict:
    """Panel's ``parse_query`` on the screened query string."""
    return _ORIGINAL(screen(query).search or "?")


def install() -> None:
    """Make Panel's ``Location`` read query strings through :func:`screen` (idempotent)."""
    global _ORIGINAL
    from panel.io import location

    if location.parse_query is not screened_parse_query:
        _ORIGINAL = location.parse_query
        location.parse_query = screened_parse_query
