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
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

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


@app.middleware("http")
async def _limit_body(request: Request, call_next: Any) -> Response:
    length = request.headers.get("content-length")
    if length is not None and length.isdigit() and int(length) > MAX_BODY_BYTES:
        return JSONResponse(
            {"error": f"body of {length} bytes exceeds {MAX_BODY_BYTES}: send fewer bars"},
            status_code=413,
        )
    return await call_next(request)


def _service(request: Request) -> Any:
    service = getattr(request.app.state, "service", None)
    if service is None:
        raise ModelUnavailableError({"service": "the service is still starting"})
    return service


@app.post("/signal", response_model=SignalResponse, responses=ERRORS)
def signal(body: SignalRequest, request: Request) -> JSONResponse:
    """The signal for one symbol from its recent bars (oldest first)."""
    return JSONResponse(_service(request).signal(body))


@app.post("/signal/batch", response_model=BatchResponse, responses=ERRORS)
def batch(body: BatchRequest, request: Request) -> JSONResponse:
    """Signals for several symbols; each item has its own status."""
    return JSONResponse(_service(request).batch(body))


@app.post("/signal/stream", response_model=SignalResponse, responses=ERRORS)
def stream(body: StreamRequest, request: Request) -> JSONResponse:
    """One new bar of a symbol into its cached state; the updated signal."""
    return JSONResponse(_service(request).stream(body))


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
