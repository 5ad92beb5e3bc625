"""Bad requests raise their specific error naming the input; the deduplicator."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.inference import (
    EmptyBarsError,
    IncompleteFeaturesError,
    InferenceInputError,
    InsufficientBarsError,
    InvalidBarsError,
    InvalidQuoteError,
    NonFiniteInputError,
    PayloadTooLargeError,
    SignalDeduplicator,
    SignalEngine,
    StaleBarsError,
)
from signal_pipeline.signals.model import Signal
from signal_pipeline_tests.inference.conftest import Trained, just_after, recent_bars


@pytest.fixture(scope="module")
def engine(trained: Trained) -> SignalEngine:
    return SignalEngine(
        trained.ensemble,
        model_version="v",
        spec=trained.spec,
        cache=False,
        config={"max_bars": 1000, "dedupe": False},
    )


@pytest.fixture
def bars(trained: Trained) -> pd.DataFrame:
    return recent_bars(trained.bars, "AAA", 300)


def raises(
    engine: SignalEngine,
    error: type[InferenceInputError],
    match: str,
    bars: Any,
    symbol: str = "AAA",
    **kwargs: Any,
) -> InferenceInputError:
    now = kwargs.pop("now", None)
    if now is None and isinstance(bars, pd.DataFrame) and len(bars) and "ts" in bars:
        now = just_after(bars)
    with pytest.raises(error, match=match) as info:
        engine.infer(symbol, bars, now=now, **kwargs)
    assert 400 <= info.value.http_status < 500
    return info.value


def test_no_bars(engine: SignalEngine, bars: pd.DataFrame) -> None:
    raises(engine, EmptyBarsError, "^bars: no bars given", bars.iloc[:0])


def test_not_a_dataframe(engine: SignalEngine) -> None:
    raises(engine, InvalidBarsError, "got list", [{"close": 1.0}])


def test_too_few_bars(engine: SignalEngine, bars: pd.DataFrame) -> None:
    error = raises(engine, InsufficientBarsError, "10 bars given", bars.tail(10))
    assert f"at least {engine.min_bars}" in str(error)


def test_oversized_payload(engine: SignalEngine, trained: Trained) -> None:
    many = recent_bars(trained.bars, "AAA", 1200)
    error = raises(engine, PayloadTooLargeError, "1200 bars exceed the limit of 1000", many)
    assert error.http_status == 413


def test_stale_bars(engine: SignalEngine, bars: pd.DataFrame) -> None:
    late = just_after(bars) + timedelta(hours=2)
    raises(engine, StaleBarsError, "over the limit of 0:05:00", bars, now=late)


def test_bars_from_the_future(engine: SignalEngine, bars: pd.DataFrame) -> None:
    early = just_after(bars) - timedelta(hours=1)
    raises(engine, StaleBarsError, "after now", bars, now=early)


def test_nan_names_column_and_row(engine: SignalEngine, bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad.loc[123, "close"] = np.nan
    error = raises(
        engine, NonFiniteInputError, r"^bars.close: NaN or infinite values at rows \[123\]", bad
    )
    assert error.field == "bars.close"


def test_unsorted_bars(engine: SignalEngine, bars: pd.DataFrame) -> None:
    shuffled = bars.iloc[::-1].reset_index(drop=True)
    error = raises(engine, InvalidBarsError, "unsorted", shuffled, now=just_after(bars))
    assert error.rule == "unsorted"


def test_duplicate_bars(engine: SignalEngine, bars: pd.DataFrame) -> None:
    doubled = pd.concat([bars, bars.tail(1)], ignore_index=True)
    raises(engine, InvalidBarsError, "duplicate", doubled)


def test_impossible_prices(engine: SignalEngine, bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad.loc[50, "high"] = bad.loc[50, "low"] / 2
    raises(engine, InvalidBarsError, "rows \\[50\\]", bad)


def test_wrong_types(engine: SignalEngine, bars: pd.DataFrame) -> None:
    bad = bars.copy()
    bad["close"] = bad["close"].astype(object)
    bad.loc[7, "close"] = "abc"
    raises(engine, InvalidBarsError, "close", bad)


def test_unknown_fields(engine: SignalEngine, bars: pd.DataFrame) -> None:
    raises(engine, InvalidBarsError, r"unknown columns \['sentiment'\]", bars.assign(sentiment=1.0))


def test_bars_of_another_symbol(engine: SignalEngine, bars: pd.DataFrame) -> None:
    raises(engine, InvalidBarsError, "carry symbol\\(s\\) \\['AAA'\\]", bars, symbol="ZZZ")


def test_bad_symbol(engine: SignalEngine, bars: pd.DataFrame) -> None:
    raises(engine, InvalidBarsError, "is not a ticker", bars, symbol="TOO LONG SYMBOL")


def test_missing_minutes(engine: SignalEngine, bars: pd.DataFrame) -> None:
    gap = bars.drop(index=[150, 151]).reset_index(drop=True)
    raises(engine, InvalidBarsError, "minutes are missing", gap)


def test_bad_quote(engine: SignalEngine, bars: pd.DataFrame) -> None:
    quote = {"bid": 10.0, "ask": 9.0, "bid_size": 1.0, "ask_size": 1.0}
    raises(engine, InvalidQuoteError, "need 0 < bid <= ask", bars, quote=quote)
    raises(engine, NonFiniteInputError, "quote.ask", bars, quote={**quote, "ask": float("nan")})
    raises(
        engine, InvalidQuoteError, r"unknown fields \['mood'\]", bars, quote={**quote, "mood": 1}
    )


def test_history_too_short_for_a_feature(trained: Trained, bars: pd.DataFrame) -> None:
    """min_bars forced below the warm-up: the NaN features are named, not fed to the model."""
    engine = SignalEngine(
        trained.ensemble, model_version="v", spec=trained.spec, cache=False, config={"min_bars": 20}
    )
    raises(engine, IncompleteFeaturesError, "macd_12_26_9_5m", bars.tail(40))


def test_stream_bar_checks(engine: SignalEngine, bars: pd.DataFrame) -> None:
    bar = bars.iloc[-1].to_dict()
    with pytest.raises(NonFiniteInputError, match=r"bar\.open"):
        engine.update({**bar, "open": float("nan")})
    with pytest.raises(InvalidBarsError, match="low <= open"):
        engine.update({**bar, "low": bar["high"] * 2})
    with pytest.raises(InvalidBarsError, match="is not a number"):
        engine.update({**bar, "volume": "many"})
    with pytest.raises(InvalidBarsError, match=r"unknown fields \['x'\]"):
        engine.update({**bar, "x": 1.0})


def _signal(kind: str, minute: int, version: str = "v1") -> Signal:
    created = pd.Timestamp("2024-01-02 15:00", tz="UTC") + pd.Timedelta(minutes=minute)
    return Signal(
        "AAA",
        kind,
        0.7,
        model_version=version,
        created_at=created,
        expires_at=created + timedelta(minutes=15),
    )


def test_deduplicator() -> None:
    dedupe = SignalDeduplicator()
    assert dedupe.should_emit(_signal("BUY", 0))
    assert not dedupe.should_emit(_signal("BUY", 1))  # same type, still active
    assert dedupe.should_emit(_signal("BUY", 2, version="v2"))  # another model
    assert dedupe.should_emit(_signal("SELL", 3))  # direction changed
    assert dedupe.should_emit(_signal("BUY", 4))  # changed back
    assert not dedupe.should_emit(_signal("BUY", 18))  # 14 minutes later: still active
    assert dedupe.should_emit(_signal("BUY", 19))  # the BUY of minute 4 expired
