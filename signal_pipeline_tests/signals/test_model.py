from __future__ import annotations

import math
from datetime import datetime, timedelta

import numpy as np
import pytest

from signal_pipeline.signals.model import (
    DEFAULT_SIGNAL_TTL,
    Signal,
    SignalType,
    SignalValidationError,
)

from .conftest import T0, make_signal


def test_defaults_and_normalisation() -> None:
    s = Signal(
        "AAPL",
        "buy",
        np.float32(0.75),
        created_at=T0,
        features={"rsi": np.float64(55.0), "x": math.nan},
    )
    assert s.signal_type is SignalType.BUY
    assert s.expires_at == T0 + DEFAULT_SIGNAL_TTL
    assert s.features == {"rsi": 55.0, "x": None}  # NaN is not JSON: stored as null
    assert s.horizon == DEFAULT_SIGNAL_TTL
    assert len(s.idempotency_key or "") == 32


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"signal_type": "LONG"}, "signal_type"),
        ({"confidence": 1.2}, "confidence"),
        ({"confidence": math.nan}, "confidence"),
        ({"symbol": "WAY_TOO_LONG_SYMBOL"}, "symbol"),
        ({"symbol": "AA PL"}, "symbol"),
        ({"target_price": -1.0}, "target_price"),
        ({"target_price": 90.0, "stop_loss": 95.0}, "target_price"),  # BUY target below stop
        ({"expires_at": T0}, "expires_at"),
        ({"created_at": datetime(2024, 1, 1)}, "created_at"),  # naive
        ({"model_version": "v" * 51}, "model_version"),
        ({"features": {"f": object()}}, "features['f']"),
    ],
)
def test_invalid_fields_name_field_and_rule(changes: dict, field: str) -> None:
    base = {"symbol": "AAPL", "signal_type": "BUY", "confidence": 0.8, "created_at": T0}
    with pytest.raises(SignalValidationError) as info:
        Signal(**{**base, **changes})
    assert info.value.field == field
    assert field.split("[")[0] in str(info.value)


def test_sell_barriers_mirror_buy() -> None:
    Signal("AAPL", "SELL", 0.7, target_price=90.0, stop_loss=105.0, created_at=T0)
    with pytest.raises(SignalValidationError):
        Signal("AAPL", "SELL", 0.7, target_price=110.0, stop_loss=105.0, created_at=T0)


def test_idempotency_key_is_stable_and_distinguishes_signals() -> None:
    a, b = make_signal(), make_signal()
    assert a.idempotency_key == b.idempotency_key
    assert make_signal(minutes=1).idempotency_key != a.idempotency_key
    assert make_signal(signal_type="SELL").idempotency_key != a.idempotency_key
    assert make_signal(idempotency_key="order-42").idempotency_key == "order-42"


def test_dict_round_trip() -> None:
    s = make_signal(target_price=110.0, stop_loss=95.0, features={"a": 1.0}, reasoning="r")
    assert Signal.from_dict(s.to_dict()) == s
    with pytest.raises(SignalValidationError):
        Signal.from_dict({**s.to_dict(), "bogus": 1})


def test_is_active() -> None:
    s = make_signal(ttl_minutes=10)
    assert s.is_active(T0 + timedelta(minutes=9))
    assert not s.is_active(T0 + timedelta(minutes=10))
    assert not s.replace(executed=True).is_active(T0)
