"""Request and response bodies of the live-signal endpoints, with their limits.

Every model forbids unknown fields, so a typo is a 422 naming the field rather than a
silently ignored value. Limits: ``MAX_BARS`` bars per request, ``MAX_SYMBOLS`` symbols per
batch, prices in (0, ``MAX_PRICE``], volumes in [0, ``MAX_VOLUME``], finite numbers only;
bars strictly increasing in ``ts``. A request body over ``MAX_BODY_BYTES`` is refused (413)
before it is parsed.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

import numpy as np
import pandas as pd
from pydantic import BaseModel, ConfigDict, Field, field_validator

from signal_pipeline.inference.validation import MAX_CHAIN_ROWS

MAX_BARS = 5000
MAX_SYMBOLS = 50
MAX_PRICE = 1e7
MAX_VOLUME = 1e13
MAX_BODY_BYTES = 8 * 1024 * 1024
SYMBOL_PATTERN = r"^[A-Z][A-Z0-9.\-]{0,14}$"

Price = Annotated[float, Field(gt=0, le=MAX_PRICE, allow_inf_nan=False)]
Volume = Annotated[float, Field(ge=0, le=MAX_VOLUME, allow_inf_nan=False)]
Symbol = Annotated[str, Field(pattern=SYMBOL_PATTERN, description="Ticker, upper case")]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class BarIn(_Strict):
    """One bar, stamped at its close (UTC; a timestamp without a zone is taken as UTC)."""

    ts: datetime
    open: Price
    high: Price
    low: Price
    close: Price
    volume: Volume
    vwap: Price | None = None
    trades: Annotated[int, Field(ge=0)] | None = None
    bid: Price | None = None
    ask: Price | None = None

    def range_error(self) -> str | None:
        if self.low <= min(self.open, self.close) and max(self.open, self.close) <= self.high:
            return None
        return (
            f"bar at {self.ts.isoformat()}: need low <= open, close <= high "
            f"(got open={self.open}, high={self.high}, low={self.low}, close={self.close})"
        )


class QuoteIn(_Strict):
    """The latest top-of-book quote (for models with quote features); ``ts`` defaults to
    the last bar's close."""

    ts: datetime | None = None
    bid: Price
    ask: Price
    bid_size: Volume
    ask_size: Volume

    def as_mapping(self) -> dict[str, Any]:
        out = self.model_dump(exclude_none=True)
        if "ts" in out:
            out["ts"] = pd.Timestamp(_utc(out["ts"]))
        return out


NonNegativePrice = Annotated[float, Field(ge=0, le=MAX_PRICE, allow_inf_nan=False)]


class OptionIn(_Strict):
    """One contract of the latest option-chain snapshot (the option-chain contract, for
    models with option features; the symbol is the request's). ``ts`` is the snapshot
    time, defaulting to the last bar's close; ``expiry`` a moment (a date is midnight UTC)."""

    ts: datetime | None = None
    expiry: datetime
    strike: Price
    option_type: Literal["C", "P"]
    bid: NonNegativePrice
    ask: NonNegativePrice
    last: NonNegativePrice
    volume: Volume
    open_interest: Volume
    underlying_price: Price
    implied_volatility: Annotated[float, Field(ge=0, le=100, allow_inf_nan=False)] | None = None


def _utc(ts: datetime) -> datetime:
    return ts.replace(tzinfo=UTC) if ts.tzinfo is None else ts


def _check_bars(bars: list[BarIn]) -> list[BarIn]:
    """Strictly increasing ``ts`` and ``low <= open, close <= high`` (one pass over the
    list: a validator per bar costs milliseconds on 300 bars)."""
    previous = None
    for i, bar in enumerate(bars):
        problem = bar.range_error()
        if problem is not None:
            raise ValueError(f"bar {i}: {problem}")
        ts = _utc(bar.ts)
        if previous is not None and ts <= previous:
            raise ValueError(
                f"bars must be strictly increasing in ts: bar {i} ({ts.isoformat()}) is "
                f"not after bar {i - 1} ({previous.isoformat()}); sort them and drop "
                "duplicates"
            )
        previous = ts
    return bars


class SignalRequest(_Strict):
    """Recent bars of one symbol (oldest first); the signal is for the last bar."""

    symbol: Symbol
    bars: list[BarIn] = Field(min_length=1, max_length=MAX_BARS)
    quote: QuoteIn | None = None
    option_chain: list[OptionIn] | None = Field(
        None, min_length=1, max_length=MAX_CHAIN_ROWS,
        description="The latest option-chain snapshot (models with option features).",
    )  # fmt: skip
    as_of: datetime | None = Field(
        None,
        description="Judge staleness at this time instead of now (replays, tests).",
    )

    @field_validator("bars")
    @classmethod
    def _sorted(cls, bars: list[BarIn]) -> list[BarIn]:
        return _check_bars(bars)

    def bars_frame(self) -> pd.DataFrame:
        return bars_frame(self.symbol, self.bars)

    def chain_frame(self) -> pd.DataFrame | None:
        if self.option_chain is None:
            return None
        return chain_frame(self.symbol, self.option_chain, _utc(self.bars[-1].ts))


class BatchRequest(_Strict):
    """Several symbols at once; each is answered independently (one bad symbol does not
    fail the others)."""

    requests: list[SignalRequest] = Field(min_length=1, max_length=MAX_SYMBOLS)

    @field_validator("requests")
    @classmethod
    def _unique(cls, requests: list[SignalRequest]) -> list[SignalRequest]:
        seen: set[str] = set()
        for r in requests:
            if r.symbol in seen:
                raise ValueError(f"symbol {r.symbol} appears twice: send one request per symbol")
            seen.add(r.symbol)
        return requests


class StreamRequest(_Strict):
    """The next bar of one symbol. ``history`` (oldest first) warms the symbol's state
    first; it is needed once per symbol (until ``min_bars`` bars have been streamed)."""

    symbol: Symbol
    bar: BarIn
    history: list[BarIn] | None = Field(None, max_length=MAX_BARS)
    quote: QuoteIn | None = None
    option_chain: list[OptionIn] | None = Field(None, min_length=1, max_length=MAX_CHAIN_ROWS)
    as_of: datetime | None = None

    def chain_frame(self) -> pd.DataFrame | None:
        if self.option_chain is None:
            return None
        return chain_frame(self.symbol, self.option_chain, _utc(self.bar.ts))

    @field_validator("bar")
    @classmethod
    def _bar_range(cls, bar: BarIn) -> BarIn:
        problem = bar.range_error()
        if problem is not None:
            raise ValueError(problem)
        return bar

    @field_validator("history")
    @classmethod
    def _sorted(cls, bars: list[BarIn] | None) -> list[BarIn] | None:
        return _check_bars(bars) if bars is not None else None


class SignalOut(BaseModel):
    """The spec's ``trading_signals`` row (``id`` is None until the signal is stored)."""

    symbol: str
    signal_type: Literal["BUY", "SELL", "HOLD"]
    confidence: float
    target_price: float | None
    stop_loss: float | None
    position_size: float | None
    reasoning: str
    model_version: str | None
    features: dict[str, Any]
    created_at: datetime
    expires_at: datetime | None
    executed: bool = False
    performance: float | None = None
    idempotency_key: str | None = None
    id: int | None = None


class SignalResponse(BaseModel):
    """A live signal and how it was made."""

    signal: SignalOut
    proba: list[float] = Field(description="Calibrated [p_sell, p_hold, p_buy]")
    members_used: list[str]
    weights: dict[str, float]
    failures: dict[str, str] = Field(description="Members left out and why")
    degraded: bool
    filtered_by: list[str]
    emitted: bool
    from_cache: bool
    latency_s: float
    arm: str = Field(description="A/B arm: champion or challenger ('' without A/B)")


class BatchItem(BaseModel):
    symbol: str
    ok: bool
    result: SignalResponse | None = None
    status: int = 200
    error: str | None = None


class BatchResponse(BaseModel):
    results: list[BatchItem]


class ErrorResponse(BaseModel):
    error: str
    field: str | None = None
    rule: str | None = None
    reasons: dict[str, str] | None = None


def bars_frame(symbol: str, bars: list[BarIn]) -> pd.DataFrame:
    """The bar-contract DataFrame of validated bars (UTC ``ts``; an optional column only
    when some bar has it). Built column by column: per-bar dicts cost milliseconds."""
    columns: dict[str, Any] = {
        "symbol": [symbol] * len(bars),
        "ts": pd.to_datetime([b.ts for b in bars], utc=True).as_unit("ns"),
    }
    for name in ("open", "high", "low", "close", "volume"):
        columns[name] = np.fromiter((getattr(b, name) for b in bars), np.float64, len(bars))
    for name in ("vwap", "trades", "bid", "ask"):
        values = [getattr(b, name) for b in bars]
        if any(v is not None for v in values):
            columns[name] = np.array([np.nan if v is None else v for v in values], np.float64)
    return pd.DataFrame(columns)


_CHAIN_NUMBERS = ("strike", "bid", "ask", "last", "volume", "open_interest", "underlying_price")


def chain_frame(symbol: str, rows: list[OptionIn], default_ts: datetime) -> pd.DataFrame:
    """The option-chain-contract DataFrame of validated contracts (UTC ``ts`` and
    ``expiry``; ``implied_volatility`` only when some contract has it)."""
    n = len(rows)
    stamps = [_utc(r.ts) if r.ts is not None else default_ts for r in rows]
    columns: dict[str, Any] = {
        "symbol": [symbol] * n,
        "ts": pd.to_datetime(stamps, utc=True).as_unit("ns"),
        "expiry": pd.to_datetime([_utc(r.expiry) for r in rows], utc=True).as_unit("ns"),
        "option_type": [r.option_type for r in rows],
    }
    for name in _CHAIN_NUMBERS:
        columns[name] = np.fromiter((getattr(r, name) for r in rows), np.float64, n)
    if any(r.implied_volatility is not None for r in rows):
        columns["implied_volatility"] = np.array(
            [np.nan if r.implied_volatility is None else r.implied_volatility for r in rows]
        )
    return pd.DataFrame(columns)
