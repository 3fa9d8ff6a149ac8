"""The ASGI application: routes, and the guards every request passes first.

Outermost first: `HostGuard` (a `Host` that is not a loopback name or the bound address is 403,
against DNS rebinding), CORS (only for listed origins, never `*`), `KeyGuard` (the API key,
compared in constant time). Bodies over the limit are 413 before they are parsed.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import ipaddress
import json
from collections.abc import AsyncIterator, Callable
from typing import Any

from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from chatapp.server.events import Event, Failed, Finished
from chatapp.server.protocol import ApiError, GenerationRequest, parse_chat, parse_completion
from chatapp.server.responses import DONE, MODEL_ID, ChatFormat, CompletionFormat, sse
from chatapp.server.settings import ServerSettings, is_loopback
from chatapp.server.worker import Job, ModelWorker

WILDCARDS = frozenset({"0.0.0.0", "::", ""})
OPEN_PATHS = frozenset({"/health"})  # answered without the key (it says nothing private)
FOREIGN_HOST = ApiError(
    403,
    "this server answers only requests addressed to it by a loopback name or its own address "
    "(the Host header)",
    code="bad_host",
)
BAD_KEY = ApiError(
    401,
    "incorrect or missing API key (send it as 'Authorization: Bearer KEY')",
    code="invalid_api_key",
    headers={"WWW-Authenticate": "Bearer"},
)


def error_response(error: ApiError) -> JSONResponse:
    return JSONResponse(error.body(), status_code=error.status, headers=error.headers)


def _header(scope: Scope, name: bytes) -> bytes | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return value
    return None


def host_name(header: str) -> str:
    """The name in a Host header, without the port ("[::1]:8347" -> "::1")."""
    if header.startswith("["):
        return header[1 : header.find("]")] if "]" in header else header
    return header.rsplit(":", 1)[0] if header.count(":") == 1 else header


def _is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


class HostGuard:
    """403 unless Host names this machine: a loopback name, the bound address, or (bound to
    every interface) an IP address. DNS rebinding always arrives under a DNS name."""

    def __init__(self, app: ASGIApp, bound_host: str) -> None:
        self.app, self.bound = app, bound_host.strip("[]").lower()

    def allows(self, header: bytes | None) -> bool:
        if not header:
            return False
        name = host_name(header.decode("latin-1").strip()).lower()
        if is_loopback(name) or name == self.bound:
            return True
        return self.bound in WILDCARDS and _is_ip(name)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not self.allows(_header(scope, b"host")):
            await error_response(FOREIGN_HOST)(scope, receive, send)
            return
        await self.app(scope, receive, send)


class KeyGuard:
    """401 unless `Authorization: Bearer <key>` (when the server has a key)."""

    def __init__(self, app: ASGIApp, key: str | None) -> None:
        self.app, self.key = app, key.encode() if key is not None else None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and self.key is not None and scope["path"] not in OPEN_PATHS:
            header = _header(scope, b"authorization") or b""
            given = header[7:] if header[:7].lower() == b"bearer " else b""
            if not hmac.compare_digest(given.strip(), self.key):
                await error_response(BAD_KEY)(scope, receive, send)
                return
        await self.app(scope, receive, send)


async def read_json(request: Request, limit: int) -> dict[str, Any]:
    """The body as a JSON object, refused with 413 past `limit` bytes (counted, not trusted)."""
    too_big = ApiError(413, f"the request body is larger than {limit // 1024} KB", code="too_large")
    length = request.headers.get("content-length", "")
    if length.isdigit() and int(length) > limit:
        raise too_big
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_big
    try:
        data = json.loads(body)
    except ValueError as error:
        raise ApiError(400, f"the body is not valid JSON: {error}") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the body must be a JSON object")
    return data


class Endpoints:
    def __init__(self, settings: ServerSettings, worker: ModelWorker) -> None:
        self.settings, self.worker = settings, worker

    async def health(self, request: Request) -> Response:
        if not self.worker.ready.is_set():
            state, status = "loading", 503
        elif self.worker.load_error is not None:
            state, status = "error", 500
        else:
            state, status = "ok", 200
        body = {"status": state, "model": MODEL_ID, "error": self.worker.load_error,
                "queue": self.worker.pending, "queue_size": self.worker.queue_size}  # fmt: skip
        return JSONResponse(body, status_code=status)

    async def models(self, request: Request) -> Response:
        model = {"id": MODEL_ID, "object": "model", "created": 0, "owned_by": "local"}
        return JSONResponse({"object": "list", "data": [model]})

    async def chat(self, request: Request) -> Response:
        body = await read_json(request, self.settings.max_body_bytes)
        generation = parse_chat(body)
        return await self._answer(generation, ChatFormat(generation))

    async def completions(self, request: Request) -> Response:
        body = await read_json(request, self.settings.max_body_bytes)
        generation = parse_completion(body)
        return await self._answer(generation, CompletionFormat(generation))

    async def _answer(self, generation: GenerationRequest, form: ChatFormat) -> Response:
        loop = asyncio.get_running_loop()
        events: asyncio.Queue[Event] = asyncio.Queue()
        job = Job(generation, emit=_emitter(loop, events))
        self.worker.submit(job)  # 503 when the queue is full
        if generation.stream:
            headers = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}
            return StreamingResponse(
                _stream(job, events, form), media_type="text/event-stream", headers=headers
            )
        try:
            while True:
                event = await events.get()
                if isinstance(event, Failed):
                    raise event.error
                if isinstance(event, Finished):
                    return JSONResponse(form.complete(event))
        finally:
            job.cancelled.set()  # a job still queued when the handler ends is not run


def _emitter(loop: asyncio.AbstractEventLoop, events: asyncio.Queue[Event]) -> Callable:
    def emit(event: Event) -> None:
        with contextlib.suppress(RuntimeError):  # the loop has closed: nobody is listening
            loop.call_soon_threadsafe(events.put_nowait, event)

    return emit


async def _stream(job: Job, events: asyncio.Queue[Event], form: ChatFormat) -> AsyncIterator[str]:
    """Server-sent events until `[DONE]`; a client that goes away cancels the generation."""
    try:
        while True:
            event = await events.get()
            if isinstance(event, Failed):
                yield sse(event.error.body())
                break
            for chunk in form.chunks(event):
                yield sse(chunk)
            if isinstance(event, Finished):
                break
        yield DONE
    finally:
        job.cancelled.set()


async def _api_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, ApiError)
    return error_response(error)


async def _http_error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    return error_response(ApiError(error.status_code, str(error.detail), code="not_found"
                                   if error.status_code == 404 else None))  # fmt: skip


def build_app(settings: ServerSettings, worker: ModelWorker) -> Starlette:
    endpoints = Endpoints(settings, worker)
    routes = [
        Route("/health", endpoints.health, methods=["GET"]),
        Route("/v1/models", endpoints.models, methods=["GET"]),
        Route("/v1/chat/completions", endpoints.chat, methods=["POST"]),
        Route("/v1/completions", endpoints.completions, methods=["POST"]),
    ]
    middleware = [Middleware(HostGuard, bound_host=settings.host)]
    if settings.cors_origins:
        middleware.append(
            Middleware(
                CORSMiddleware,
                allow_origins=list(settings.cors_origins),
                allow_methods=["GET", "POST"],
                allow_headers=["Authorization", "Content-Type"],
            )
        )
    middleware.append(Middleware(KeyGuard, key=settings.api_key))
    return Starlette(
        routes=routes,
        middleware=middleware,
        exception_handlers={ApiError: _api_error, HTTPException: _http_error},
    )
