"""HTTP retrieval API of stored signals: an ASGI (FastAPI) app the BentoML service mounts.

Mounted at ``/signals`` by ``service.py``, so the routes below are served as
``/signals/latest``, ``/signals/history``, ... and documented in the app's own OpenAPI
(``/signals/openapi.json``, browsable at ``/signals/docs``). It can also run alone
(``uvicorn bentos.signal_service.signals_api:app``), with the routes at the root.

Errors: 400 for a malformed query (the message names the parameter), 404 for an unknown
signal or symbol, 503 when the database is unreachable.
"""

from __future__ import annotations

import threading
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from signal_pipeline.signals.db import DatabaseUnavailableError
from signal_pipeline.signals.model import Signal, SignalValidationError
from signal_pipeline.signals.retrieval import (
    MAX_PAGE_SIZE,
    HistoryQuery,
    InvalidQueryError,
    active_signals,
    latest_signals,
    signal_history,
)
from signal_pipeline.signals.store import SignalNotFoundError, SignalStore


class SignalOut(BaseModel):
    """A stored trading signal (the spec's ``trading_signals`` row)."""

    id: int
    symbol: str
    signal_type: Literal["BUY", "SELL", "HOLD"]
    confidence: float = Field(ge=0, le=1)
    target_price: float | None
    stop_loss: float | None
    position_size: float | None
    reasoning: str
    model_version: str | None
    features: dict[str, Any]
    created_at: datetime
    expires_at: datetime
    executed: bool
    performance: float | None = Field(
        description="Realised direction-signed return over the horizon, percent"
    )
    idempotency_key: str


def _signal_json(signal: Signal) -> dict[str, Any]:
    """The JSON body of a stored signal, as documented by :class:`SignalOut`.

    Built directly (not through pydantic) because serialisation dominates the latency of
    the list routes; ``test_api`` checks the bodies validate against ``SignalOut``.
    """
    assert signal.expires_at is not None
    return {
        "id": signal.id,
        "symbol": signal.symbol,
        "signal_type": str(signal.signal_type),
        "confidence": signal.confidence,
        "target_price": signal.target_price,
        "stop_loss": signal.stop_loss,
        "position_size": signal.position_size,
        "reasoning": signal.reasoning,
        "model_version": signal.model_version,
        "features": signal.features,
        "created_at": signal.created_at.isoformat(),
        "expires_at": signal.expires_at.isoformat(),
        "executed": signal.executed,
        "performance": signal.performance,
        "idempotency_key": signal.idempotency_key,
    }


def _respond(body: Any) -> JSONResponse:
    # Returning a Response skips FastAPI's second validation pass; the route's
    # response_model still documents the shape in the OpenAPI.
    return JSONResponse(content=body)


class HistoryOut(BaseModel):
    signals: list[SignalOut]
    next_cursor: str | None = Field(
        description="Pass as `cursor` to get the next page; null on the last page"
    )


class ExecutedIn(BaseModel):
    executed: bool = True


def create_app(store: SignalStore | None = None, url: str | None = None) -> FastAPI:
    """The API over ``store`` (or a store on ``url``, default: the settings' signals DB)."""
    app = FastAPI(
        title="signal-pipeline signals API",
        version="1",
        description="Stored trading signals: latest per symbol, history, active set, execution flag.",
    )
    holder: dict[str, SignalStore] = {}
    lock = threading.Lock()

    def get_store() -> SignalStore:
        # Created on first request, so importing the module never touches the database.
        with lock:
            if "store" not in holder:
                holder["store"] = store or SignalStore(url)
            return holder["store"]

    app.state.get_store = get_store

    @app.exception_handler(DatabaseUnavailableError)
    async def _unavailable(_: Request, exc: DatabaseUnavailableError) -> JSONResponse:
        return JSONResponse(status_code=503, content={"detail": str(exc)})

    @app.exception_handler(InvalidQueryError)
    async def _invalid(_: Request, exc: InvalidQueryError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.exception_handler(SignalValidationError)
    async def _invalid_value(_: Request, exc: SignalValidationError) -> JSONResponse:
        return JSONResponse(status_code=400, content={"detail": str(exc)})

    @app.get("/latest", response_model=list[SignalOut], summary="Latest signal of each symbol")
    def latest(
        symbol: Annotated[list[str] | None, Query(description="Repeat to select symbols")] = None,
    ) -> JSONResponse:
        return _respond([_signal_json(s) for s in latest_signals(get_store(), symbol).values()])

    @app.get("/latest/{symbol}", response_model=SignalOut, summary="Latest signal of one symbol")
    def latest_one(symbol: str) -> JSONResponse:
        found = latest_signals(get_store(), [symbol]).get(symbol)
        if found is None:
            raise HTTPException(404, f"no signal stored for symbol {symbol!r}")
        return _respond(_signal_json(found))

    @app.get("/history", response_model=HistoryOut, summary="Signal history, newest first")
    def history(
        symbol: str | None = None,
        start: Annotated[
            datetime | None, Query(description="created_at >= start (ISO, tz)")
        ] = None,
        end: Annotated[datetime | None, Query(description="created_at < end (ISO, tz)")] = None,
        signal_type: Literal["BUY", "SELL", "HOLD"] | None = None,
        model_version: str | None = None,
        min_confidence: Annotated[float | None, Query(ge=0, le=1)] = None,
        include_archived: bool = True,
        limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 100,
        cursor: str | None = None,
    ) -> JSONResponse:
        page = signal_history(
            get_store(),
            HistoryQuery(
                symbol=symbol,
                start=start,
                end=end,
                signal_type=signal_type,
                model_version=model_version,
                min_confidence=min_confidence,
                include_archived=include_archived,
                limit=limit,
                cursor=cursor,
            ),
        )
        return _respond(
            {"signals": [_signal_json(s) for s in page.signals], "next_cursor": page.next_cursor}
        )

    @app.get("/active", response_model=list[SignalOut], summary="Unexpired, unexecuted signals")
    def active(
        symbol: str | None = None,
        limit: Annotated[int, Query(ge=1, le=10_000)] = 1000,
    ) -> JSONResponse:
        return _respond(
            [_signal_json(s) for s in active_signals(get_store(), symbol=symbol, limit=limit)]
        )

    @app.get("/{signal_id}", response_model=SignalOut, summary="One signal by id")
    def one(signal_id: Annotated[int, Path(ge=1)]) -> JSONResponse:
        try:
            return _respond(_signal_json(get_store().get(signal_id)))
        except SignalNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    @app.put("/{signal_id}/executed", response_model=SignalOut, summary="Set the executed flag")
    def set_executed(signal_id: Annotated[int, Path(ge=1)], body: ExecutedIn) -> JSONResponse:
        try:
            return _respond(_signal_json(get_store().set_executed(signal_id, body.executed)))
        except SignalNotFoundError as exc:
            raise HTTPException(404, str(exc)) from exc

    return app


#: The app over the default signals database (``SIGNAL_PIPELINE_SIGNALS_DB`` or the embedded SQLite).
app = create_app()
