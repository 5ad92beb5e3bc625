"""Conflict policy on crafted cases, shares computed by hand (half-life 15 min, margin 0.10)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from signal_pipeline.signals.conflicts import (
    ConflictInputError,
    ConflictPolicy,
    resolve_against_active,
    resolve_conflict,
)
from signal_pipeline.signals.model import SignalType
from signal_pipeline.signals.store import SignalStore

from .conftest import T0, make_signal


def test_clear_winner_keeps_its_direction() -> None:
    buy = make_signal(signal_type="BUY", confidence=0.8, target_price=110.0, stop_loss=95.0)
    sell = make_signal(signal_type="SELL", confidence=0.6)
    r = resolve_conflict([buy, sell], now=T0)
    assert r.conflict and r.signal.signal_type is SignalType.BUY
    assert r.shares["BUY"] == pytest.approx(0.8 / 1.4) and r.shares["SELL"] == pytest.approx(
        0.6 / 1.4
    )
    assert r.signal.confidence == pytest.approx(0.8)
    assert r.signal.target_price == 110.0
    assert "confidence-recency-v1" in r.signal.reasoning and "-> BUY" in r.signal.reasoning


def test_too_close_is_hold() -> None:
    r = resolve_conflict(
        [
            make_signal(signal_type="BUY", confidence=0.70, target_price=110.0, stop_loss=95.0),
            make_signal(signal_type="SELL", confidence=0.65),
        ],
        now=T0,
    )
    lead = 0.70 / 1.35 - 0.65 / 1.35  # 0.037 < 0.10
    assert r.signal.signal_type is SignalType.HOLD
    assert r.signal.confidence == pytest.approx(1 - lead)
    assert r.signal.target_price is None and r.signal.position_size == 0.0
    assert "-> HOLD" in r.signal.reasoning and "< 0.10" in r.signal.reasoning


def test_exact_tie_is_hold_even_without_margin() -> None:
    pair = [
        make_signal(signal_type="BUY", confidence=0.7),
        make_signal(signal_type="SELL", confidence=0.7),
    ]
    r = resolve_conflict(pair, now=T0, policy=ConflictPolicy(min_margin=0.0))
    assert r.signal.signal_type is SignalType.HOLD and r.signal.confidence == pytest.approx(1.0)
    assert "tie" in r.signal.reasoning


def test_recency_outweighs_stale_confidence() -> None:
    stale_sell = make_signal(signal_type="SELL", confidence=0.9, minutes=-30)  # weight 0.9/4
    fresh_buy = make_signal(signal_type="BUY", confidence=0.6)
    r = resolve_conflict([stale_sell, fresh_buy], now=T0)
    assert r.shares["BUY"] == pytest.approx(0.6 / (0.6 + 0.225))
    assert r.signal.signal_type is SignalType.BUY


def test_ab_arm_source_weights() -> None:
    a = make_signal(signal_type="BUY", confidence=0.6, model_version="arm-a")
    b = make_signal(signal_type="SELL", confidence=0.8, model_version="arm-b")
    assert resolve_conflict([a, b], now=T0).signal.signal_type is SignalType.SELL
    policy = ConflictPolicy(source_weights={"arm-a": 2.0})
    r = resolve_conflict([a, b], now=T0, policy=policy)
    assert r.shares["BUY"] == pytest.approx(1.2 / 2.0) and r.signal.signal_type is SignalType.BUY


def test_members_agreeing_pool_their_confidence() -> None:
    members = [
        make_signal(signal_type="BUY", confidence=0.7, model_version="xgb"),
        make_signal(signal_type="BUY", confidence=0.6, model_version="lstm"),
        make_signal(signal_type="SELL", confidence=0.9, model_version="rf"),
    ]
    r = resolve_conflict(members, now=T0)
    assert r.shares["BUY"] == pytest.approx(1.3 / 2.2)
    assert r.signal.signal_type is SignalType.BUY and r.signal.confidence == pytest.approx(0.65)
    # The decision is the newest agreeing member (xgb: same time, higher confidence) re-weighted;
    # its key is re-derived from (symbol, type, model, time), so it equals that member's.
    assert r.signal.id is None and r.signal.model_version == "xgb"
    assert r.signal.idempotency_key == members[0].idempotency_key


def test_agreement_is_not_a_conflict() -> None:
    a, b = make_signal(confidence=0.6), make_signal(confidence=0.9, minutes=1)
    r = resolve_conflict([a, b], now=T0)
    assert not r.conflict and r.signal == b


def test_bad_inputs() -> None:
    with pytest.raises(ConflictInputError, match="at least one"):
        resolve_conflict([])
    with pytest.raises(ConflictInputError, match="symbols"):
        resolve_conflict([make_signal(symbol="AAPL"), make_signal(symbol="MSFT")])
    with pytest.raises(ValueError, match="min_margin"):
        ConflictPolicy(min_margin=1.5)


def test_new_signal_against_active_one(store: SignalStore) -> None:
    store.write([make_signal(signal_type="SELL", confidence=0.9, minutes=-30, ttl_minutes=60)])
    new = make_signal(signal_type="BUY", confidence=0.6)
    r = resolve_against_active(store, new, now=T0)
    assert r.conflict and r.signal.signal_type is SignalType.BUY
    assert r.shares["SELL"] == pytest.approx(0.225 / 0.825)
    # Once the old signal is no longer active, there is nothing to resolve against.
    r2 = resolve_against_active(store, new, now=T0 + timedelta(minutes=31))
    assert not r2.conflict and r2.signal == new
