"""Simulated portals and web systems: one aiohttp server per HTTP(S) check."""

from __future__ import annotations

import asyncio
import html
import json
import ssl
from typing import Any

from aiohttp import web

from sim.base import Endpoint
from sim.faults import Fault, FaultKind

_MAINTENANCE = "Trang đang bảo trì. Vui lòng quay lại sau."


def json_page(path: str, equals: str | None, contains: str | None = None) -> str:
    """A JSON document in which ``path`` (dotted, numbers index lists) holds ``equals``."""
    value: Any = "ok"
    if equals is not None:
        try:
            value = json.loads(equals)
        except ValueError:
            value = equals
    for part in reversed(path.split(".")):
        value = [None] * int(part) + [value] if part.isdigit() else {part: value}
    text = json.dumps(value, ensure_ascii=False)
    if contains and contains not in text and isinstance(value, dict):
        value.setdefault("_note", contains)
        text = json.dumps(value, ensure_ascii=False)
    return text


class HttpEndpoint(Endpoint):
    """A portal for one ``http`` check: answers every path with its expected status.

    Faults: stop listening (connection refused), 503, answers slower than the check's
    latency limit, and a page without the text the check looks for.
    """

    def __init__(
        self,
        check_id: str,
        title: str,
        host: str,
        port: int,
        *,
        tls: ssl.SSLContext | None,
        status: int = 200,
        body_contains: str | None = None,
        json_path: str | None = None,
        json_equals: str | None = None,
        slow_delay: float = 1.5,
    ) -> None:
        super().__init__()
        self.check_id = check_id
        self.host = host
        self.port = port
        self._tls = tls
        self._status = status
        self._slow_delay = slow_delay
        self._checks_body = bool(body_contains or json_path)
        wrong = _MAINTENANCE
        if body_contains and body_contains in wrong:
            wrong = "503"
        if json_path:
            self._content_type = "application/json"
            self._page = json_page(json_path, json_equals, body_contains)
            self._wrong_page = json.dumps({"_simulated": wrong}, ensure_ascii=False)
        else:
            self._content_type = "text/html"
            self._page = (
                "<!doctype html><html lang=vi><head><meta charset=utf-8>"
                f"<title>{html.escape(title)}</title></head><body><h1>{html.escape(title)}</h1>"
                f"<p>{body_contains or ''}</p></body></html>\n"
            )
            self._wrong_page = f"<!doctype html><html lang=vi><body><p>{wrong}</p></body></html>\n"
        self._runner: web.AppRunner | None = None
        self._site: web.TCPSite | None = None

    def faults(self) -> list[Fault]:
        kinds = [FaultKind.REFUSED, FaultKind.HTTP_503, FaultKind.SLOW]
        if self._checks_body:
            kinds.append(FaultKind.WRONG_BODY)
        return [Fault(kind, self.check_id) for kind in kinds]

    async def start(self) -> None:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._handle)
        self._runner = web.AppRunner(
            app, handle_signals=False, access_log=None, shutdown_timeout=0.5
        )
        await self._runner.setup()
        await self._listen()

    async def close(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
        self._runner = None
        self._site = None

    async def _listen(self) -> None:
        assert self._runner is not None
        if self._site is None:
            site = web.TCPSite(
                self._runner, self.host, self.port, ssl_context=self._tls, reuse_address=True
            )
            await site.start()
            self._site = site

    async def apply(self, fault: Fault, active: bool) -> None:
        await super().apply(fault, active)
        if fault.kind is not FaultKind.REFUSED:
            return
        if active and self._site is not None:
            site, self._site = self._site, None
            await site.stop()
            # A stopped service also drops the idle keep-alive connections it had.
            server = self._runner.server if self._runner is not None else None
            for connection in server.connections if server is not None else []:
                connection.close()
        elif not active and self._runner is not None:
            await self._listen()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        if self.has(FaultKind.SLOW):
            await asyncio.sleep(self._slow_delay)
        if self.has(FaultKind.HTTP_503):
            return web.Response(
                status=503,
                text="Service Unavailable (simulated)\n",
                headers={"Retry-After": "30"},
            )
        status = self._status
        headers = {"Server": "thongsuot-sim"}
        if 300 <= status < 400:
            headers["Location"] = "/"
        if status in (204, 304) or request.method == "HEAD":
            return web.Response(status=status, headers=headers)
        page = self._wrong_page if self.has(FaultKind.WRONG_BODY) else self._page
        return web.Response(
            status=status, text=page, content_type=self._content_type, headers=headers
        )
