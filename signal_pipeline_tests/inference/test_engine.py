"""SignalEngine: parity with the offline path, streaming, degradation, filters, dedupe."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.features import compute_features
from signal_pipeline.inference import (
    EngineConfig,
    ModelUnavailableError,
    SignalEngine,
)
from signal_pipeline.models import SoftVotingEnsemble, TrainedEnsemble
from signal_pipeline.signals.model import SignalType
from signal_pipeline_tests.inference.conftest import Trained, just_after, recent_bars


def make_engine(trained: Trained, **config: Any) -> SignalEngine:
    return SignalEngine(
        trained.ensemble,
        model_version="v-test",
        spec=trained.spec,
        config={"max_spread": None, **config},
        cache=False,
    )


def offline(trained: Trained, bars: pd.DataFrame) -> pd.Series:
    """What the training code computes for the last bar: batch features + predict_signal."""
    features = compute_features(bars, trained.spec)
    return trained.ensemble.predict_signal(features).iloc[-1]


@pytest.mark.parametrize("symbol", ["AAA", "BBB"])
def test_signal_equals_offline_computation_exactly(trained: Trained, symbol: str) -> None:
    bars = recent_bars(trained.bars, symbol, 300)
    answer = make_engine(trained).infer(symbol, bars, now=just_after(bars))
    expected = offline(trained, bars)
    assert answer.proba == (expected["p_sell"], expected["p_hold"], expected["p_buy"])
    assert answer.signal.confidence == expected["confidence"]
    assert answer.signal.signal_type == expected["signal"]
    assert answer.signal.model_version == "v-test"
    assert not answer.degraded


def test_signal_fields(trained: Trained) -> None:
    bars = recent_bars(trained.bars, "CCC", 300)
    engine = make_engine(trained, min_confidence=None)
    signal = engine.signal_for("CCC", bars, now=just_after(bars))
    last_ts = pd.Timestamp(bars["ts"].iloc[-1]).to_pydatetime()
    assert signal.created_at == last_ts
    assert signal.expires_at == last_ts + EngineConfig().horizon
    assert set(trained.ensemble.feature_names) <= set(signal.features)
    features = compute_features(bars, trained.spec)
    for name in trained.ensemble.feature_names:
        assert signal.features[name] == features[name].iloc[-1]
    assert signal.features["_degraded"] is False
    assert "Drivers (contribution)" in signal.reasoning
    assert "Members: xgboost, random_forest." in signal.reasoning


def test_buy_and_sell_levels_follow_atr(trained: Trained) -> None:
    """Threshold 0 turns every argmax into a trade, so levels appear; check them by hand."""
    engine = SignalEngine(
        forced_trades(trained),
        model_version="v",
        spec=trained.spec,
        config={"max_bar_age": None, "max_spread": None},
        cache=False,
    )
    seen: set[SignalType] = set()
    bars_all = trained.bars[trained.bars["symbol"] == "AAA"].reset_index(drop=True)
    for end in range(400, len(bars_all), 97):
        bars = bars_all.iloc[end - 300 : end].reset_index(drop=True)
        signal = engine.signal_for("AAA", bars)
        if signal.signal_type is SignalType.HOLD:
            continue
        seen.add(signal.signal_type)
        close = bars["close"].iloc[-1]
        atr = signal.features["atr_14_1m"] / 100 * close
        sign = 1 if signal.signal_type is SignalType.BUY else -1
        assert signal.target_price == pytest.approx(close + sign * 2.0 * atr, rel=1e-12)
        assert signal.stop_loss == pytest.approx(close - sign * 1.0 * atr, rel=1e-12)
        assert 0 < signal.position_size <= 1.0
    assert seen, "no BUY/SELL among the sampled windows"


def test_from_folder_predicts_like_the_trained_object(trained: Trained) -> None:
    bars = recent_bars(trained.bars, "AAA", 250)
    loaded = SignalEngine.from_folder(
        trained.folder, spec=trained.spec, cache=False, config={"max_spread": None}
    )
    assert loaded.model_version == trained.folder.name
    from_loader = SignalEngine(
        lambda: TrainedEnsemble.load(trained.folder),
        model_version="v",
        spec=trained.spec,
        cache=False,
        config={"max_spread": None},
    )
    assert from_loader.infer("AAA", bars, now=just_after(bars)).proba == (
        loaded.infer("AAA", bars, now=just_after(bars)).proba
    )
    assert loaded.infer("AAA", bars, now=just_after(bars)).proba == (
        make_engine(trained).infer("AAA", bars, now=just_after(bars)).proba
    )


def test_streaming_update_equals_the_batch_call(trained: Trained) -> None:
    bars = trained.bars[trained.bars["symbol"] == "BBB"].reset_index(drop=True)
    history, live = bars.iloc[:600], bars.iloc[600:640]
    engine = make_engine(trained, max_bar_age=None, dedupe=False)
    engine.warm_start(history)
    for bar in live.to_dict("records"):
        streamed = engine.infer_update(bar)
    seen = pd.concat([history, live], ignore_index=True)
    batch = make_engine(trained, max_bar_age=None).infer("BBB", seen)
    # The online engine matches the batch features to ~1e-12 (docs/features.md).
    np.testing.assert_allclose(streamed.proba, batch.proba, rtol=0, atol=1e-9)
    assert streamed.signal.signal_type == batch.signal.signal_type
    assert streamed.signal.created_at == batch.signal.created_at


def test_streaming_needs_history(trained: Trained) -> None:
    from signal_pipeline.inference import InsufficientBarsError

    bars = trained.bars[trained.bars["symbol"] == "AAA"].reset_index(drop=True)
    engine = make_engine(trained, max_bar_age=None)
    with pytest.raises(InsufficientBarsError, match="warm_start"):
        engine.update(bars.iloc[0].to_dict())


class BrokenMember:
    """Stands in for a member whose artifact is corrupt: predicting raises."""

    kind = "broken"
    params: ClassVar[dict[str, Any]] = {}

    def predict_proba(self, X: Any) -> np.ndarray:
        raise RuntimeError("weights corrupted")


def _with_members(
    trained: Trained, members: dict[str, Any], weights: dict[str, float]
) -> TrainedEnsemble:
    base = trained.ensemble.ensemble
    ensemble = SoftVotingEnsemble(
        members, weights, calibrator=base.calibrator, confidence_threshold=base.confidence_threshold
    )
    return TrainedEnsemble(ensemble, pd.DataFrame(), {}, trained.ensemble.feature_names)


def test_a_broken_member_degrades_the_signal_with_renormalised_weights(trained: Trained) -> None:
    members = dict(trained.ensemble.ensemble.members)
    weights = {"xgboost": 0.4, "random_forest": 0.3, "broken": 0.3}
    with_broken = _with_members(trained, {**members, "broken": BrokenMember()}, weights)
    healthy = _with_members(trained, members, weights)
    bars = recent_bars(trained.bars, "AAA", 300)
    engine = SignalEngine(
        with_broken, model_version="v", spec=trained.spec, cache=False, config={"max_bar_age": None}
    )
    answer = engine.infer("AAA", bars)
    assert answer.degraded
    assert "weights corrupted" in answer.failures["broken"]
    assert answer.weights == pytest.approx({"xgboost": 0.4 / 0.7, "random_forest": 0.3 / 0.7})
    expected = healthy.predict_signal(compute_features(bars, trained.spec)).iloc[-1]
    assert answer.proba == (expected["p_sell"], expected["p_hold"], expected["p_buy"])
    assert answer.signal.features["_degraded"] is True
    assert answer.signal.features["_failed_members"] == "broken"
    assert "DEGRADED" in answer.signal.reasoning


def test_all_members_broken_is_model_unavailable(trained: Trained) -> None:
    broken = _with_members(trained, {"a": BrokenMember(), "b": BrokenMember()}, {"a": 1, "b": 1})
    engine = SignalEngine(
        broken, model_version="v", spec=trained.spec, cache=False, config={"max_bar_age": None}
    )
    with pytest.raises(ModelUnavailableError, match="weights corrupted") as info:
        engine.infer("AAA", recent_bars(trained.bars, "AAA"))
    assert info.value.http_status == 503
    assert set(info.value.reasons) == {"a", "b"}


def test_a_member_failing_to_load_degrades(trained: Trained, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained.folder, folder)
    for file in (folder / "ensemble" / "random_forest").iterdir():
        if file.name != "meta.json":
            file.write_bytes(b"not a model")
    engine = SignalEngine.from_folder(
        folder, spec=trained.spec, cache=False, config={"max_bar_age": None}
    )
    assert engine.degraded and "random_forest" in engine.load_failures
    info = engine.info()
    assert info["members"] == ["xgboost"] and info["degraded"]
    assert info["min_bars"] == engine.min_bars and info["n_features"] == len(engine.feature_names)
    bars = recent_bars(trained.bars, "BBB")
    answer = engine.infer("BBB", bars)
    xgb_only = _with_members(
        trained, {"xgboost": trained.ensemble.ensemble.members["xgboost"]}, {"xgboost": 0.4}
    )
    expected = xgb_only.predict_signal(compute_features(bars, trained.spec)).iloc[-1]
    assert answer.degraded and answer.members_used == ("xgboost",)
    assert answer.proba == (expected["p_sell"], expected["p_hold"], expected["p_buy"])


def test_no_member_loading_is_model_unavailable(trained: Trained, tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(trained.folder, folder)
    for name in ("xgboost", "random_forest"):
        shutil.rmtree(folder / "ensemble" / name)
    with pytest.raises(ModelUnavailableError, match="failed to load"):
        SignalEngine.from_folder(folder, spec=trained.spec)


def forced_trades(trained: Trained) -> TrainedEnsemble:
    """The trained members with threshold 0: every argmax BUY/SELL stays a trade."""
    ensemble = trained.ensemble.ensemble
    return TrainedEnsemble(
        SoftVotingEnsemble(
            ensemble.members,
            ensemble.weights,
            calibrator=ensemble.calibrator,
            confidence_threshold=0.0,
        ),
        pd.DataFrame(),
        {},
        trained.ensemble.feature_names,
    )


def trade_window(trained: Trained, engine: SignalEngine) -> pd.DataFrame:
    """300 bars of AAA on whose last bar ``engine`` (no filters) says BUY or SELL."""
    bars_all = trained.bars[trained.bars["symbol"] == "AAA"].reset_index(drop=True)
    for end in range(400, len(bars_all), 37):
        bars = bars_all.iloc[end - 300 : end].reset_index(drop=True)
        if engine.signal_for("AAA", bars).signal_type is not SignalType.HOLD:
            return bars
    raise AssertionError("no BUY/SELL window found")


def test_min_confidence_turns_trades_into_hold(trained: Trained) -> None:
    config = {"max_bar_age": None, "max_spread": None, "dedupe": False}
    loose = SignalEngine(
        forced_trades(trained), model_version="v", spec=trained.spec, cache=False, config=config
    )
    bars = trade_window(trained, loose)
    strict = SignalEngine(
        forced_trades(trained),
        model_version="v",
        spec=trained.spec,
        cache=False,
        config={**config, "min_confidence": 0.99},
    )
    answer = strict.infer("AAA", bars)
    assert answer.signal.signal_type is SignalType.HOLD
    assert answer.signal.confidence == answer.proba[1]
    assert "below min_confidence 0.990" in answer.filtered_by[0]
    assert answer.signal.target_price is None and answer.signal.position_size == 0.0


def test_wide_spread_turns_trades_into_hold(trained: Trained) -> None:
    engine = SignalEngine(
        forced_trades(trained),
        model_version="v",
        spec=trained.spec,
        cache=False,
        config={"max_bar_age": None, "max_spread": 0.001, "dedupe": False},
    )
    bars = trade_window(trained, engine)  # no quote: no spread known, no filter
    mid = float(bars["close"].iloc[-1])
    tight = {"bid": mid - 0.001, "ask": mid + 0.001, "bid_size": 100.0, "ask_size": 100.0}
    wide = {"bid": mid * 0.99, "ask": mid * 1.01, "bid_size": 100.0, "ask_size": 100.0}
    assert engine.infer("AAA", bars, quote=tight).signal.signal_type is not SignalType.HOLD
    answer = engine.infer("AAA", bars, quote=wide)
    assert answer.signal.signal_type is SignalType.HOLD
    assert "spread 0.02000 wider than max_spread 0.00100" in answer.filtered_by[0]


def test_a_repeated_signal_is_not_emitted_twice(trained: Trained) -> None:
    bars = recent_bars(trained.bars, "AAA", 300)
    engine = make_engine(trained, max_bar_age=None)
    first = engine.infer("AAA", bars)
    again = engine.infer("AAA", bars)
    assert first.emitted and not again.emitted
    assert again.signal == first.signal


@pytest.mark.slow
def test_parity_with_an_lstm_member(trained_lstm: Trained) -> None:
    """The LSTM reads a sequence of rows: the engine passes it the last sequence_length
    rows, which must give what predict_signal on the whole table gives for that row."""
    bars = recent_bars(trained_lstm.bars, "CCC", 300)
    engine = make_engine(trained_lstm, max_bar_age=None)
    assert engine.context_rows == 10
    answer = engine.infer("CCC", bars)
    expected = offline(trained_lstm, bars)
    assert answer.proba == (expected["p_sell"], expected["p_hold"], expected["p_buy"])
    assert answer.members_used == ("xgboost", "random_forest", "lstm")
    stream = make_engine(trained_lstm, max_bar_age=None)
    stream.warm_start(bars.iloc[:-5])
    for bar in bars.iloc[-5:].to_dict("records"):
        streamed = stream.infer_update(bar)
    np.testing.assert_allclose(streamed.proba, answer.proba, rtol=0, atol=1e-9)


def test_concurrent_requests_give_the_same_signals(trained: Trained) -> None:
    from concurrent.futures import ThreadPoolExecutor

    engine = make_engine(trained, max_bar_age=None, dedupe=False)
    windows = [recent_bars(trained.bars, s, 300) for s in ("AAA", "BBB", "CCC")] * 4
    serial = [engine.infer(str(w["symbol"].iloc[0]), w).proba for w in windows]
    with ThreadPoolExecutor(4) as pool:
        parallel = list(
            pool.map(lambda w: engine.infer(str(w["symbol"].iloc[0]), w).proba, windows)
        )
    assert parallel == serial


def test_unknown_engine_setting_is_refused(trained: Trained) -> None:
    from signal_pipeline.inference import EngineConfigError

    with pytest.raises(EngineConfigError, match=r"unknown engine settings \['max_bar'\]"):
        make_engine(trained, max_bar=3)
    with pytest.raises(EngineConfigError, match="target_atr"):
        EngineConfig(target_atr=-1.0)


def test_a_model_trained_on_another_spec_is_refused(trained: Trained) -> None:
    from signal_pipeline.inference import EngineConfigError

    base = trained.ensemble
    tagged = TrainedEnsemble(
        base.ensemble, pd.DataFrame(), {"feature_spec_hash": "0" * 64}, base.feature_names
    )
    with pytest.raises(EngineConfigError, match="pass the training spec"):
        SignalEngine(tagged, model_version="v", spec=trained.spec, cache=False)
    same = TrainedEnsemble(
        base.ensemble,
        pd.DataFrame(),
        {"feature_spec_hash": trained.spec.version_hash},
        base.feature_names,
    )
    assert SignalEngine(same, model_version="v", spec=trained.spec, cache=False).min_bars > 0
