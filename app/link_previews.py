"""Requests for a page that no one will look at: link previews and crawlers.

When a teacher pastes the class link into a chat, the chat service fetches it to show a preview
(Slack, Teams, WhatsApp, Discord, ...), and so do search crawlers on a public instance. Such a
request gets a page like any other, but it runs no JavaScript, so its page never connects. If it
counted as a page on its way to a browser, the pages of the students already connected would
hold back their settings for it until it went stale (``app/opening.py``, 10 s).

Only the User-Agent tells them apart. Browsers all name themselves "Mozilla/5.0 ..."; previews
and crawlers add a name of their own, which is what is matched here. A browser taken for a
preview loses nothing but its place in that queue: its page opens as it would for anyone.
"""
from __future__ import annotations

import re
from typing import Any, Mapping

_PREVIEW = re.compile(
    r"bot\b|crawler|spider|preview|externalhit|whatsapp|slack|embedly|iframely|mastodon|pleroma",
    re.IGNORECASE)


def is_link_preview(user_agent: str | None) -> bool:
    """True for a link preview or a crawler (by its User-Agent); a missing one is not assumed to be."""
    return bool(user_agent) and _PREVIEW.search(user_agent) is not None


def user_agent(headers: Mapping[str, Any] | None) -> str:
    """The request's User-Agent (header names are case-insensitive), or ''."""
    if not headers:
        return ""
    for name, value in headers.items():
        if name.lower() == "user-agent":
            return str(value)
    return ""
