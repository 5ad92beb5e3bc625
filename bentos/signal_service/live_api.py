"""HTTP routes of live signals: an ASGI (FastAPI) app the BentoML service mounts at ``/``.

Routes (see docs/service.md): ``POST /signal`` (one symbol), ``POST /signal/batch``,
``POST /signal/stream`` (one new bar), ``GET /model``, ``GET /metrics`` (Prometheus),
``POST /monitoring/snapshot``; OpenAPI at ``/openapi.json``, browsable at ``/api/docs``.

FastAPI rather than ``@bentoml.api`` because BentoML replaces every 5xx message by a
generic one, and a 503 here must say why (which members failed). Status codes: 422 for
a body that breaks a schema or engine rule (the message names field and rule), 413 for
too many bars or too large a body, 503 when no model can answer, never a 500 with a
traceback. The routes call the service object set in ``app.state.service`` by
``SignalService.__init__``.
"""

from __future__ import annotations

import logging
from typing import Any, TypeVar

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.openapi.utils import get_openapi
from fastapi.responses import JSONResponse, PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST
from pydantic import BaseModel, ValidationError
from starlette.types import ASGIApp, Receive, Scope, Send

from bentos.signal_service.schemas import (
    MAX_BODY_BYTES,
    BatchRequest,
    BatchResponse,
    ErrorResponse,
    SignalRequest,
    SignalResponse,
    StreamRequest,
)
from signal_pipeline.inference.errors import InferenceError, ModelUnavailableError

log = logging.getLogger(__name__)
Body = TypeVar("Body", bound=BaseModel)

ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": ErrorResponse, "description": "Too many bars or too large a body"},
    422: {"model": ErrorResponse, "description": "Invalid request (message says what)"},
    503: {"model": ErrorResponse, "description": "No model can answer (reasons)"},
}

app = FastAPI(
    title="signal-pipeline live signals",
    version="1",
    docs_url="/api/docs",
    redoc_url=None,
    openapi_url="/openapi.json",
)


def error_body(exc: BaseException) -> tuple[int, dict[str, Any]]:
    """Status and JSON body of an engine/service error."""
    status = getattr(exc, "http_status", 500)
    body: dict[str, Any] = {"error": str(exc)}
    for attr in ("field", "rule"):
        if hasattr(exc, attr):
            body[attr] = getattr(exc, attr)
    if isinstance(exc, ModelUnavailableError):
        body["reasons"] = exc.reasons
    return status, body


@app.exception_handler(InferenceError)
async def _inference_error(_: Request, exc: InferenceError) -> JSONResponse:
    status, body = error_body(exc)
    return JSONResponse(body, status_code=status)


@app.exception_handler(RequestValidationError)
async def _validation_error(_: Request, exc: RequestValidationError) -> JSONResponse:
    errors = exc.errors()
    messages = [
        f"{'.'.join(str(p) for p in e.get('loc', ()) if p != 'body')}: {e.get('msg')}"
        for e in errors
    ]
    too_many = any(
        e.get("type") == "too_long" and e.get("loc", ())[-1] in ("bars", "history", "requests")
        for e in errors
    )
    detail = [{"loc": list(e.get("loc", ())), "msg": e.get("msg"), "type": e.get("type")}
              for e in errors]  # fmt: skip
    return JSONResponse(
        {"error": "; ".join(messages[:10]), "detail": detail[:50]},
        status_code=413 if too_many else 422,
    )


@app.exception_handler(Exception)
async def _unexpected(_: Request, exc: Exception) -> JSONResponse:
    # Logged with its traceback for the operator; the client gets the type and message only.
    log.exception("unexpected error answering a live-signal request")
    return JSONResponse({"error": f"internal error ({type(exc).__name__}): {exc}"}, 500)


class _BodyLimit:
    """Refuses (413) a body whose declared length exceeds ``MAX_BODY_BYTES`` before it is
    read. A plain ASGI middleware: Starlette's ``@app.middleware("http")`` (its
    BaseHTTPMiddleware) costs ~0.4 ms per request, passing every body through streams."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            for name, value in scope["headers"]:
                if name == b"content-length":
                    length = value.decode("latin-1")
                    if length.isdigit() and int(length) > MAX_BODY_BYTES:
                        response = JSONResponse(
                            {
                                "error": f"body of {length} bytes exceeds {MAX_BODY_BYTES}: "
                                "send fewer bars"
                            },
                            status_code=413,
                        )
                        await response(scope, receive, send)
                        return
                    break
        await self.app(scope, receive, send)


app.add_middleware(_BodyLimit)


def _service(request: Request) -> Any:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise ModelUnavailableError({"service": "the service is still starting"})
    return service


# Bodies are validated from the raw bytes (pydantic's JSON parser) instead of by FastAPI
# (json.loads, then validation of the Python objects): half the cost on 300 bars. The
# schemas still document the routes (``_json_body`` and ``_openapi``), and a bad body
# still raises RequestValidationError with FastAPI's ``("body", ...)`` locations.
_BODY_MODELS: tuple[type[BaseModel], ...] = (SignalRequest, BatchRequest, StreamRequest)


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}


async def _parse(request: Request, model: type[Body]) -> Body:
    raw = await request.body()
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        errors = [{**e, "loc": ("body", *e["loc"])} for e in exc.errors(include_url=False)]
        raise RequestValidationError(errors) from exc


def _openapi() -> dict[str, Any]:
    """FastAPI's OpenAPI plus the request-body schemas the routes refer to."""
    if app.openapi_schema is None:
        schema = get_openapi(
            title=app.title, version=app.version, routes=app.routes, description=app.description
        )
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in _BODY_MODELS:
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
        app.openapi_schema = schema
    return app.openapi_schema


app.openapi = _openapi  # type: ignore[method-assign]


@app.post(
    "/signal",
    response_model=SignalResponse,
    responses=ERRORS,
    openapi_extra=_json_body(SignalRequest),
)
async def signal(request: Request) -> JSONResponse:
    """The signal for one symbol from its recent bars (oldest first)."""
    raw = await request.body()
    ready = getattr(request.app.state, "service", None)
    cached = ready.signal_from_body(raw) if ready is not None else None
    if cached is not None:  # the same bytes again: answered without parsing (~0.1 ms)
        return JSONResponse(cached)
    body = await _parse(request, SignalRequest)
    return JSONResponse(await run_in_threadpool(_service(request).signal, body, raw))


@app.post(
    "/signal/batch",
    response_model=BatchResponse,
    responses=ERRORS,
    openapi_extra=_json_body(BatchRequest),
)
async def batch(request: Request) -> JSONResponse:
    """Signals for several symbols; each item has its own status."""
    body = await _parse(request, BatchRequest)
    return JSONResponse(await run_in_threadpool(_service(request).batch, body))


@app.post(
    "/signal/stream",
    response_model=SignalResponse,
    responses=ERRORS,
    openapi_extra=_json_body(StreamRequest),
)
async def stream(request: Request) -> JSONResponse:
    """One new bar of a symbol into its cached state; the updated signal."""
    body = await _parse(request, StreamRequest)
    return JSONResponse(await run_in_threadpool(_service(request).stream, body))


@app.get("/model")
def model(request: Request) -> JSONResponse:
    """The model in service: version, aliases, members, weights, source, load errors."""
    return JSONResponse(_service(request).model())


@app.get("/metrics")
def metrics(request: Request) -> PlainTextResponse:
    """Prometheus text: latency, predicted classes, confidences, feature drift."""
    return PlainTextResponse(_service(request).metrics(), media_type=CONTENT_TYPE_LATEST)


@app.post("/monitoring/snapshot")
def snapshot(request: Request) -> JSONResponse:
    """Write the monitoring snapshot now (the ``model_monitoring`` asset reads it)."""
    return JSONResponse(_service(request).write_monitoring_snapshot())
