"""Feature-table validation with Great Expectations, and the correlated-pairs report."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.features import compute_features, load_feature_spec
from signal_pipeline.features.validation import correlated_pairs, validate_feature_table

SPEC = {
    "timeframes": ["1m", "5m"],
    "technical": {"rsi": {"period": 14}, "willr": {"period": 14}, "sma": {"period": 10},
                  "medprice": {}, "typprice": {}},
    "microstructure": {"enabled": False},
    "options": {"enabled": False},
}  # fmt: skip


@pytest.fixture(scope="module")
def table(bars_small: pd.DataFrame) -> pd.DataFrame:
    return compute_features(bars_small.iloc[:800], spec=SPEC)


def test_clean_table_passes(table: pd.DataFrame) -> None:
    result = validate_feature_table(table, load_feature_spec(SPEC))
    assert result.success, result.to_markdown()
    assert result.failing_columns == []
    assert result.to_metadata()["failed_expectations"] == 0


def test_broken_table_names_rule_and_column(table: pd.DataFrame) -> None:
    broken = table.copy()
    broken.loc[300:305, "rsi_14_1m"] = np.nan  # a hole after warm-up
    broken.loc[400, "willr_14_5m"] = 3.0  # %R is never above 0
    broken.loc[500, "sma_10_1m"] = np.inf
    result = validate_feature_table(broken, load_feature_spec(SPEC))
    assert not result.success
    assert result.failing_columns == ["rsi_14_1m", "sma_10_1m", "willr_14_5m"]
    by_rule = {o.column: o.features for o in result.failures}
    assert by_rule == {"missing_after_warmup": ["rsi_14_1m"], "non_finite": ["sma_10_1m"],
                       "out_of_range": ["willr_14_5m"]}  # fmt: skip
    assert "willr_14_5m" in result.to_metadata()["failures"]


@pytest.mark.slow
def test_per_column_suite_runs_on_the_table(table: pd.DataFrame) -> None:
    broken = table.copy()
    broken.loc[400, "rsi_14_5m"] = 101.0
    result = validate_feature_table(broken, load_feature_spec(SPEC), mode="columns")
    assert len(result.outcomes) == 2 * (len(table.columns) - 2)
    assert result.failing_columns == ["rsi_14_5m"]


def test_correlated_pairs_finds_exact_rescaling(table: pd.DataFrame) -> None:
    pairs = correlated_pairs(table, 0.95)
    found = {frozenset(p) for p in zip(pairs["feature_a"], pairs["feature_b"], strict=True)}
    # typical price's distance is exactly 2/3 of the median price's
    assert frozenset({"medprice_1m", "typprice_1m"}) in found
    assert (pairs["correlation"].abs() > 0.95).all()
    assert frozenset({"rsi_14_1m", "medprice_1m"}) not in found
