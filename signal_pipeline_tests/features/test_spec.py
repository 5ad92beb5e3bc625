"""Feature spec loading, validation and its version hash."""

from __future__ import annotations

import pytest

from signal_pipeline.features.spec import (
    CODE_VERSION,
    FeatureSpecError,
    load_feature_spec,
)

SMALL = {"timeframes": ["1m", "1h"], "technical": {"rsi": {"period": [14, 30]}}}


def test_default_spec_has_the_required_indicators_on_all_timeframes() -> None:
    spec = load_feature_spec()
    assert spec.timeframes == ("1m", "5m", "15m", "1h", "1d")
    for tf in spec.timeframes:
        assert len(spec.indicator_names(tf)) >= 50, tf
    cols = set(spec.technical_columns)
    for name in ("rsi_14_1m", "rsi_30_5m", "rsi_ob_14_70_1m", "macd_12_26_9_1h",
                 "bb_pctb_20_2_15m", "sma_200_1m", "ema_200_15m", "stoch_k_14_3_5m",
                 "willr_14_1h", "cci_20_1m", "atr_14_1d"):  # fmt: skip
        assert name in cols, name
    assert len(spec.version_hash) == 64


def test_list_parameters_expand_and_hash_tracks_content() -> None:
    spec = load_feature_spec(SMALL)
    assert "rsi_30_1h" in spec.technical_columns and "rsi_14_1m" in spec.technical_columns
    assert load_feature_spec(SMALL).version_hash == spec.version_hash
    other = load_feature_spec({**SMALL, "technical": {"rsi": {"period": [14, 31]}}})
    assert other.version_hash != spec.version_hash
    assert CODE_VERSION  # part of the hashed text


@pytest.mark.parametrize(
    ("raw", "entry", "message"),
    [
        ({"technical": {"rsx": {}}}, "technical.rsx", "unknown indicator"),
        ({"technical": {"rsi": {"length": 3}}}, "technical.rsi", "unknown parameter"),
        ({"technical": {"rsi": {"period": 1}}}, "technical.rsi", ">= 2"),
        ({"technical": {"rsi": {"period": "x"}}}, "technical.rsi", "must be a number"),
        ({"technical": {"macd": {"fast": 30, "slow": 26}}}, "technical.macd", "must be < slow"),
        ({"timeframes": ["2m"]}, "timeframes.2m", "unknown timeframe"),
        ({"overrides": {"1d": {"foo": {}}}, "timeframes": ["1d"]}, "overrides.1d.foo",
         "unknown indicator"),
        ({"featurez": {}}, "featurez", "unknown top-level key"),
        ({"microstructure": {"params": {"windw": 3}}}, "microstructure.params",
         "unknown parameter"),
        ({"options": {"params": {"iv_lookbak": 3}}}, "options.params", "unknown parameter"),
    ],
)  # fmt: skip
def test_bad_specs_name_the_entry(raw: dict, entry: str, message: str) -> None:
    with pytest.raises(FeatureSpecError, match=message) as err:
        load_feature_spec(raw)
    assert err.value.entry == entry
    assert entry in str(err.value)
