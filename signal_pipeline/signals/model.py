"""The trading signal: one validated value object with the fields of the spec's table.

A ``Signal`` is what the inference engine emits, the store persists and the API
returns. It is frozen and validated at construction, so a ``Signal`` that exists is a
``Signal`` the database will accept.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from datetime import UTC, datetime, timedelta
from enum import StrEnum
from typing import Any

import numpy as np
import pandas as pd

#: Lifetime of a signal when the producer gives no ``expires_at``.
DEFAULT_SIGNAL_TTL = timedelta(hours=1)

#: Column widths of the spec's table (VARCHAR(10), VARCHAR(50), DECIMAL(3,2), ...).
MAX_SYMBOL_LEN = 10
MAX_MODEL_VERSION_LEN = 50
MAX_IDEMPOTENCY_KEY_LEN = 64
MAX_PRICE = 999_999.9999  # DECIMAL(10,4)


class SignalType(StrEnum):
    """Direction of a signal; values are what the database stores."""

    BUY = "BUY"
    SELL = "SELL"
    HOLD = "HOLD"

    @property
    def direction(self) -> int:
        """+1 for BUY, -1 for SELL, 0 for HOLD: the sign applied to a realised return."""
        return {"BUY": 1, "SELL": -1, "HOLD": 0}[self.value]


class SignalValidationError(ValueError):
    """A signal field breaks a rule of the schema; the message names field, value and fix."""

    def __init__(self, field_name: str, value: object, rule: str) -> None:
        self.field = field_name
        self.value = value
        self.rule = rule
        super().__init__(f"Signal.{field_name}={value!r} is invalid: {rule}")


def to_utc(value: datetime | pd.Timestamp | str, field_name: str = "timestamp") -> datetime:
    """A timezone-aware UTC ``datetime``; naive input is rejected rather than guessed."""
    if isinstance(value, str):
        try:
            value = datetime.fromisoformat(value)
        except ValueError as exc:
            raise SignalValidationError(field_name, value, "must be an ISO-8601 timestamp") from exc
    if isinstance(value, pd.Timestamp):
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise SignalValidationError(field_name, value, "must be a datetime")
    if value.tzinfo is None:
        raise SignalValidationError(
            field_name, value, "must be timezone-aware; pass tzinfo=datetime.UTC"
        )
    return value.astimezone(UTC)


def _jsonable(key: str, value: Any) -> Any:
    """Feature values as plain JSON: numpy scalars unwrapped, NaN/inf as null (JSON has none)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, int | float):
        return float(value) if math.isfinite(value) else None
    raise SignalValidationError(
        f"features[{key!r}]", value, "feature values must be numbers, strings, booleans or None"
    )


def _optional_price(name: str, value: float | None) -> float | None:
    if value is None:
        return None
    value = float(value)
    if not math.isfinite(value) or value <= 0 or value > MAX_PRICE:
        raise SignalValidationError(name, value, f"must be a finite price in (0, {MAX_PRICE}]")
    return value


@dataclass(frozen=True, slots=True)
class Signal:
    """One trading signal (the spec's ``trading_signals`` row).

    ``id`` is assigned by the database (None until stored). ``idempotency_key`` defaults
    to a hash of (symbol, signal_type, model_version, created_at), so re-sending the same
    signal never stores it twice. ``performance`` is the realised direction-signed return
    over the horizon in percent, filled in by the tracker.
    """

    symbol: str
    signal_type: SignalType | str
    confidence: float
    target_price: float | None = None
    stop_loss: float | None = None
    position_size: float | None = None
    reasoning: str = ""
    model_version: str | None = None
    features: Mapping[str, Any] = field(default_factory=dict)
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    expires_at: datetime | None = None
    executed: bool = False
    performance: float | None = None
    idempotency_key: str | None = None
    id: int | None = None

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen: normalised values are set once, here
        symbol = self.symbol
        if not isinstance(symbol, str) or not symbol or len(symbol) > MAX_SYMBOL_LEN:
            raise SignalValidationError(
                "symbol", symbol, f"must be a non-empty string of at most {MAX_SYMBOL_LEN} chars"
            )
        if symbol != symbol.strip() or " " in symbol:
            raise SignalValidationError("symbol", symbol, "must not contain whitespace")
        try:
            set_(self, "signal_type", SignalType(str(self.signal_type).upper()))
        except ValueError as exc:
            raise SignalValidationError(
                "signal_type", self.signal_type, "must be one of 'BUY', 'SELL', 'HOLD'"
            ) from exc
        confidence = float(self.confidence)
        if not (math.isfinite(confidence) and 0.0 <= confidence <= 1.0):
            raise SignalValidationError("confidence", self.confidence, "must be within [0, 1]")
        set_(self, "confidence", confidence)
        set_(self, "target_price", _optional_price("target_price", self.target_price))
        set_(self, "stop_loss", _optional_price("stop_loss", self.stop_loss))
        self._check_barriers()
        if self.position_size is not None:
            size = float(self.position_size)
            if not math.isfinite(size) or size < 0 or size > MAX_PRICE:
                raise SignalValidationError(
                    "position_size", size, f"must be a finite size in [0, {MAX_PRICE}]"
                )
            set_(self, "position_size", size)
        if self.model_version is not None and len(self.model_version) > MAX_MODEL_VERSION_LEN:
            raise SignalValidationError(
                "model_version",
                self.model_version,
                f"must be at most {MAX_MODEL_VERSION_LEN} chars",
            )
        set_(self, "reasoning", self.reasoning or "")
        set_(self, "features", {str(k): _jsonable(str(k), v) for k, v in self.features.items()})
        created = to_utc(self.created_at, "created_at")
        set_(self, "created_at", created)
        expires = created + DEFAULT_SIGNAL_TTL if self.expires_at is None else self.expires_at
        expires = to_utc(expires, "expires_at")
        if expires <= created:
            raise SignalValidationError(
                "expires_at", expires, f"must be later than created_at ({created.isoformat()})"
            )
        set_(self, "expires_at", expires)
        set_(self, "executed", bool(self.executed))
        if self.performance is not None:
            set_(self, "performance", float(self.performance))
        key = self.idempotency_key or self.default_idempotency_key()
        if len(key) > MAX_IDEMPOTENCY_KEY_LEN:
            raise SignalValidationError(
                "idempotency_key", key, f"must be at most {MAX_IDEMPOTENCY_KEY_LEN} chars"
            )
        set_(self, "idempotency_key", key)

    def _check_barriers(self) -> None:
        """A BUY's target sits above its stop, a SELL's below: otherwise the order is nonsense."""
        target, stop = self.target_price, self.stop_loss
        if target is None or stop is None:
            return
        if self.signal_type is SignalType.BUY and not target > stop:
            raise SignalValidationError(
                "target_price", target, f"a BUY needs target_price > stop_loss ({stop})"
            )
        if self.signal_type is SignalType.SELL and not target < stop:
            raise SignalValidationError(
                "target_price", target, f"a SELL needs target_price < stop_loss ({stop})"
            )

    def default_idempotency_key(self) -> str:
        """Stable key of what makes a signal the same signal (not its id or outcome)."""
        created = to_utc(self.created_at, "created_at").isoformat()
        text = f"{self.symbol}|{self.signal_type}|{self.model_version or ''}|{created}"
        return hashlib.sha256(text.encode()).hexdigest()[:32]

    @property
    def horizon(self) -> timedelta:
        """Time from creation to expiry: the window over which the outcome is measured."""
        assert self.expires_at is not None  # set in __post_init__
        return self.expires_at - self.created_at

    def is_active(self, now: datetime | None = None) -> bool:
        """Unexpired and unexecuted at ``now`` (default: the current time)."""
        now = to_utc(now or datetime.now(UTC), "now")
        assert self.expires_at is not None
        return not self.executed and self.expires_at > now

    def replace(self, **changes: Any) -> Signal:
        """A copy with some fields changed (validated again)."""
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict: ISO timestamps, the signal type as its string."""
        out = asdict(self)
        out["signal_type"] = str(self.signal_type)
        out["features"] = dict(self.features)
        out["created_at"] = self.created_at.isoformat()
        assert self.expires_at is not None
        out["expires_at"] = self.expires_at.isoformat()
        return out

    @classmethod
    def restore(cls, **fields: Any) -> Signal:
        """A signal from already-validated, normalised fields (rows read back from the store).

        Skips validation: every field must be given, in its normalised type. Anything not
        read from the store goes through the normal constructor.
        """
        signal = object.__new__(cls)
        for name in cls.__dataclass_fields__:
            object.__setattr__(signal, name, fields[name])
        return signal

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Signal:
        """Inverse of :meth:`to_dict` (unknown keys are an error, not silently dropped)."""
        known = set(cls.__dataclass_fields__)
        unknown = set(data) - known
        if unknown:
            raise SignalValidationError(
                "<dict>", sorted(unknown), f"unknown keys; expected a subset of {sorted(known)}"
            )
        return cls(**dict(data))
