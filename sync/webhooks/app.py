"""The receiver's HTTP face: `POST /personio/webhooks/{id}` and `GET /healthz`.

Answers, with no detail in the body (a caller learns nothing from a refusal):
- 404: no organization has this URL, or its near-real-time updates are switched off;
- 401: the `Authorization` header is not that organization's token;
- 413: the body is larger than MAX_BODY_BYTES (read no further); 400: it is not a Personio delivery;
- 202: accepted; it is recorded a moment later (`inbox`), so the answer never waits for the database.
Nothing is recorded unless the answer is 202. Nothing of a request is logged (the path holds an
organization's id, the header its token).
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from storage.secrets import SecretBox
from sync.core.webhook_events import MAX_BODY_BYTES, parse_delivery
from sync.webhooks.inbox import Caller, Inbox, authenticate

WEBHOOK_PATH = "/personio/webhooks/{path_id}"


def _empty(status: int) -> Response:
    return Response(status_code=status)


async def _body(request: Request) -> bytes | None:
    """The body, or None once it passes MAX_BODY_BYTES (declared or sent)."""
    declared = request.headers.get("content-length")
    if declared is not None and (not declared.isdigit() or int(declared) > MAX_BODY_BYTES):
        return None
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


def create_app(engine: Engine, *, box: SecretBox | None = None) -> Starlette:
    """The receiver for `engine`'s organizations. `app.state.inbox.flush()` waits for the writes."""
    secrets = box or SecretBox()
    inbox = Inbox(engine)

    async def receive(request: Request) -> Response:
        path_id = str(request.path_params["path_id"])
        verdict = await run_in_threadpool(
            authenticate, engine, secrets, path_id, request.headers.get("authorization")
        )
        if verdict.caller is Caller.UNKNOWN:
            return _empty(404)
        if verdict.caller is Caller.UNAUTHORIZED or verdict.org_id is None:
            return _empty(401)
        body = await _body(request)
        if body is None:
            return _empty(413)
        delivery = parse_delivery(body)
        if delivery is None:
            return _empty(400)
        inbox.submit(verdict.org_id, delivery)
        return _empty(202)

    async def healthz(_request: Request) -> Response:
        return JSONResponse({"status": "ok"})

    @asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await run_in_threadpool(inbox.close)

    app = Starlette(
        routes=[Route(WEBHOOK_PATH, receive, methods=["POST"]), Route("/healthz", healthz, methods=["GET"])],
        lifespan=lifespan,
    )
    app.state.inbox = inbox
    return app
