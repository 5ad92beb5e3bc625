"""Feature importance: the planted signal must rank first by every measure."""

from __future__ import annotations

import pytest

from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import train_ensemble
from signal_pipeline.models.importance import (
    IMPORTANCE_COLUMNS,
    importance_plot,
    model_importance,
    permutation_importance,
)
from signal_pipeline_tests.models.synthetic import planted_market

CV = {"cv": {"n_splits": 3, "embargo": "15min"}}


@pytest.fixture(scope="module")
def planted() -> tuple:
    bars, features = planted_market(days=3)
    return features, triple_barrier_labels(bars)


@pytest.mark.slow
def test_planted_signal_ranks_first_by_gain_impurity_and_permutation(
    planted: tuple, fast_config: dict
) -> None:
    features, labels = planted
    config = {**fast_config, **CV}
    trained = train_ensemble(
        features, labels, config=config, members=["xgboost", "random_forest"], progress=False
    )
    table = model_importance(trained)
    assert list(table.columns) == list(IMPORTANCE_COLUMNS)
    assert set(table["kind"]) == {"gain", "impurity"}
    perm = permutation_importance(features, labels, config=config, folds=2, n_repeats=2)
    assert set(perm["member"]) == {"xgboost", "random_forest"}
    for frame in (table, perm):
        top = frame.loc[frame["rank"] == 1, "feature"].unique().tolist()
        assert top == ["signal_1_1m"]
    # Out of sample, permuting pure noise costs about nothing; the signal costs clearly more.
    signal = perm.loc[perm["feature"] == "signal_1_1m", "importance"].min()
    noise = perm.loc[perm["feature"] != "signal_1_1m", "importance"].abs().max()
    assert signal > 5 * noise
    impurity = table.loc[table["kind"] == "impurity", "importance"].sum()
    assert impurity == pytest.approx(1.0)
    png = importance_plot(perm, top=3)
    assert png[:8] == b"\x89PNG\r\n\x1a\n"
