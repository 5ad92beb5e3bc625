"""A model with option features: the engine computes them from the chain it is given,
equal to the offline path, and names what is missing when no chain comes."""

from __future__ import annotations

from pathlib import Path

import pytest

from signal_pipeline.data import simulate_market
from signal_pipeline.features import compute_features, load_feature_spec
from signal_pipeline.inference import IncompleteFeaturesError, SignalEngine
from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import train_ensemble
from signal_pipeline_tests.inference.conftest import FAST, just_after

OPTIONS_SPEC = {
    "timeframes": ["1m"],
    "technical": {"atr": {"period": 14}, "rsi": {"period": 14}, "ema": {"period": 20}},
    "microstructure": {"enabled": False},
    # a short IV-rank window, so that rows have every option feature within a few days
    "options": {"enabled": True, "params": {"iv_lookback": 3, "iv_min_periods": 2}},
}


@pytest.fixture(scope="module")
def with_options(tmp_path_factory: pytest.TempPathFactory):
    spec = load_feature_spec(OPTIONS_SPEC)
    market = simulate_market(["AAA", "BBB"], 5, seed=5)
    features = compute_features(market.bars, spec, option_chains=market.option_chains)
    trained = train_ensemble(features, triple_barrier_labels(market.bars), config=FAST,
                             members=["xgboost", "random_forest"], progress=False)  # fmt: skip
    assert any(c.endswith("_1d") and c.startswith("atm_iv") for c in trained.feature_names)
    trained.save(Path(tmp_path_factory.mktemp("options")) / "model")
    return spec, market, trained


def test_chain_given_equals_offline_and_no_chain_is_named(with_options) -> None:
    spec, market, trained = with_options
    bars = market.bars[market.bars["symbol"] == "BBB"].tail(300).reset_index(drop=True)
    chains = market.option_chains
    # the snapshots known at the last bar (the IV rank looks back over them)
    chain = chains[(chains["symbol"] == "BBB") & (chains["ts"] <= bars["ts"].iloc[-1])]
    chain = chain.reset_index(drop=True)
    engine = SignalEngine(trained, model_version="v-opt", spec=spec,
                          config={"max_spread": None}, cache=False)  # fmt: skip
    answer = engine.infer("BBB", bars, chain=chain, now=just_after(bars))
    table = compute_features(bars, spec, option_chains=chain)
    expected = trained.predict_signal(table).iloc[-1]
    assert answer.proba == (expected["p_sell"], expected["p_hold"], expected["p_buy"])
    assert answer.signal.features["atm_iv_30d_1d"] == pytest.approx(
        float(table["atm_iv_30d_1d"].iloc[-1]), rel=0, abs=0
    )
    with pytest.raises(IncompleteFeaturesError, match="atm_iv"):
        engine.infer("BBB", bars, now=just_after(bars))
