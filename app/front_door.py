"""The public instance's front door: a ``panel serve --plugins`` module (deploy/serve.sh loads it).

Importing it swaps the handlers of every app's page (``/app``) and embed script
(``/app/autoload.js``) for guarded versions, before the server builds its routes:

* **No session chosen by the link.**  Bokeh lets a request name the session it joins
  (``?bokeh-session-id=…``, ``?bokeh-token=…`` or a ``Bokeh-Session-Id`` header).  Signing
  session ids (``--session-ids signed``) stops made-up ids, but not an id or token an
  attacker obtained from their own page and posted as a link: everyone who clicks it would
  share the poster's session.  The dashboard never needs either, so a link carrying one is
  redirected to the same address without it (a new session of one's own); the header,
  which only scripts send, is refused.
* **A budget of page-building time per client** (:mod:`app.ratelimit`): building a page
  holds the event loop for 1–2 s (more on a busy machine), so each client address may use
  ``DENDRITE_PAGE_BURST_S`` seconds of it at once, refilled at ``DENDRITE_PAGE_SHARE`` of the
  loop; beyond that the answer is a 429 with ``Retry-After`` (sent slowly, below).  A page that opens in
  a browser gives its time back (app/page.py reports it), so only pages nobody opens count.
  The request carries its :class:`~app.ratelimit.PageTicket` (``dendrite_page``) to the
  session for that.  The client is the socket's peer, or, when that peer is a trusted proxy
  (loopback, or an address in ``DENDRITE_TRUSTED_PROXIES``), the address the proxy forwarded:
  with ``--use-xheaders`` Tornado believes ``X-Real-IP`` from anyone, which would let a
  flooding client pose as a new one on every request.
* **Which browser.**  Every page admitted carries its browser's id (:mod:`app.browsers`): the
  ``dendrite_browser`` cookie when the request has one this server signed, else a new id, set as
  an HttpOnly, SameSite=Lax session cookie.  The session reads it from its request to cap what one
  browser's tabs hold (training places, memory, grid points).  A request with a valid id is charged
  to a page budget of its own (the address and the id), so one student opening tabs uses up that
  browser's budget, not the budget of the class behind the same address.  A request without a valid
  id is charged to the address, and so is the making of every new id.
* **Refusals answered slowly.**  A refusal is cheap, but not free: a client looping on the
  page got ~440 refusals a second, whose handling held the GIL so much that a training
  student's engine lost 70 % of its speed.  A refusal therefore waits ``REFUSAL_DELAY_S``
  before it is sent (a sleeping coroutine costs nothing), so each connection of a flood gets
  about one answer a second; a browser's refusal page is only a second later.  Beyond
  ``MAX_WAITING`` waiting refusals per client, the connection is closed without an answer.
"""
from __future__ import annotations

import asyncio
import ipaddress
import logging
import math
import os
import time
from urllib.parse import parse_qsl, urlencode

import panel.io.server  # noqa: F401  (Panel replaces Bokeh's page handlers on import; guard Panel's)
from bokeh.server import urls as bokeh_urls

from . import browsers
from .ratelimit import PageTicket, page_budgets

log = logging.getLogger("dendrite_lab.front_door")

SESSION_ARGS = ("bokeh-session-id", "bokeh-token")
SESSION_HEADER = "Bokeh-Session-Id"

ROUTES: list = []       # panel serve --plugins wants this; the guard needs no routes of its own
REFUSAL_DELAY_S = 1.0   # a refused page is answered after this long (see the module docstring)
MAX_WAITING = 16        # refusals per client waiting at once; beyond, connections are closed at once

_waiting: dict[str, int] = {}


def _trusted_proxies() -> set[str]:
    raw = os.environ.get("DENDRITE_TRUSTED_PROXIES", "")
    return {part.strip() for part in raw.split(",") if part.strip()}


def _is_trusted(peer: str) -> bool:
    try:
        if ipaddress.ip_address(peer).is_loopback:
            return True
    except ValueError:
        return False
    return peer in _trusted_proxies()


def client_key(request) -> str:
    """The address a page request is charged to (see the module docstring)."""
    context = getattr(request.connection, "context", None)
    peer = getattr(context, "_orig_remote_ip", None) or request.remote_ip or "?"
    if _is_trusted(peer):
        return request.remote_ip or peer
    return peer


def _limited_page(retry_after: int) -> str:
    # a browser reloads by itself when the budget allows a page again; scripts do not follow this
    return ("<!DOCTYPE html><html><head><meta charset='utf-8'>"
            f"<meta http-equiv='refresh' content='{retry_after}'><title>Dendrite Lab: please wait</title></head>"
            "<body style='font-family: sans-serif; margin: 3em'><h1>Too many page loads</h1>"
            "<p>This address opened many pages in a short time. The page loads by itself in "
            f"{retry_after} s.</p></body></html>")


class FrontDoor:
    """Mixin for Bokeh's page handlers; runs before any session is looked up or built."""

    async def prepare(self):
        await super().prepare()
        if self._finished:
            return
        request = self.request
        if request.headers.get(SESSION_HEADER) is not None:
            log.warning("refused a page request naming its session in a header (client %s)", client_key(request))
            self.set_status(403)
            self.finish("A session cannot be chosen by the request.")
            return
        args = parse_qsl(request.query or "", keep_blank_values=True)
        if any(name in SESSION_ARGS for name, _ in args):
            log.warning("a link named a session; sent client %s to a new one", client_key(request))
            kept = urlencode([(k, v) for k, v in args if k not in SESSION_ARGS])
            self.set_header("Cache-Control", "no-store")
            self.redirect(request.path + (f"?{kept}" if kept else ""), status=303)
            return
        key = client_key(request)
        browser = self._known_browser()
        budget_key = f"{key} browser {browser}" if browser else key
        verdict = page_budgets().admit(budget_key)
        if verdict.allowed:
            # the session finds it through its request (Bokeh's request proxy passes public names on)
            request.dendrite_page = PageTicket(budget_key, verdict.reserved_s, time.perf_counter(), client=key)
            request.dendrite_browser = browser or self._new_browser()
        else:
            retry = max(1, math.ceil(verdict.retry_after_s))
            log.warning("page rate limit: refused a page for client %s%s (retry in %d s)", key,
                        " (one browser)" if browser else "", retry)
            await self._refuse_slowly(key, retry)

    def _known_browser(self) -> str | None:
        morsel = self.request.cookies.get(browsers.COOKIE)
        value = morsel.value if morsel is not None else None
        return value if browsers.valid(value) else None

    def _new_browser(self) -> str:
        value = browsers.new_id()
        self.set_cookie(browsers.COOKIE, value, path="/", httponly=True, samesite="Lax")
        return value

    async def _refuse_slowly(self, key: str, retry: int) -> None:
        waiting = _waiting.get(key, 0)
        if waiting >= MAX_WAITING:
            self.request.connection.close()
            self._finished = True       # nothing more is written to this request
            return
        _waiting[key] = waiting + 1
        try:
            await asyncio.sleep(REFUSAL_DELAY_S)
        finally:
            left = _waiting.get(key, 1) - 1
            if left > 0:
                _waiting[key] = left
            else:
                _waiting.pop(key, None)
        if self.request.connection.stream is not None and self.request.connection.stream.closed():
            self._finished = True       # the client gave up meanwhile
            return
        self.set_status(429)
        self.set_header("Retry-After", str(retry))
        self.set_header("Cache-Control", "no-store")
        self.set_header("Content-Type", "text/html; charset=utf-8")
        self.finish(_limited_page(retry))

    def on_finish(self):
        ticket = getattr(self.request, "dendrite_page", None)
        if ticket is not None and ticket.cost_s is None:
            ticket.cost_s = time.perf_counter() - ticket.started
            page_budgets().settle(ticket.key, ticket.reserved_s, ticket.cost_s)
        super().on_finish()


def _guarded(handler: type) -> type:
    if issubclass(handler, FrontDoor):
        return handler
    return type(f"Guarded{handler.__name__}", (FrontDoor, handler), {})


def install() -> None:
    """Guard the page and embed-script handlers of every app the server will build (idempotent)."""
    patterns = bokeh_urls.per_app_patterns
    for i, (pattern, handler, *rest) in enumerate(patterns):
        if pattern in (r"/?", r"/autoload.js"):
            patterns[i] = (pattern, _guarded(handler), *rest)


install()
