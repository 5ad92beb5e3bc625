"""Optuna tuning over the purged CV: defaults first, per-fold reports, real storages."""

from __future__ import annotations

from pathlib import Path

import optuna
import pytest

from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models.tuning import (
    DEFAULTS_ATTR,
    TuningError,
    improvement_summary,
    redact_url,
    tune_member,
    tuned_overrides,
)
from signal_pipeline_tests.models.synthetic import planted_market

CV = {"cv": {"n_splits": 3, "embargo": "15min"}, "tuning": {"cv": {"n_splits": 3}}}


@pytest.fixture(scope="module")
def planted() -> tuple:
    bars, features = planted_market(days=3)
    return features, triple_barrier_labels(bars)


def _config(fast_config: dict) -> dict:
    return {**fast_config, **CV}


@pytest.mark.slow
def test_tuning_matches_or_beats_the_spec_defaults(planted: tuple, fast_config: dict) -> None:
    features, labels = planted
    result = tune_member(
        "xgboost", features, labels, config=_config(fast_config), n_trials=5, seed=1
    )
    assert result.n_trials == 5
    assert result.tuned_log_loss <= result.default_log_loss
    assert result.improvement >= 0
    # The planted signal is learnable: the tuned OOF log loss beats the uniform guess.
    assert result.tuned_log_loss < 1.0986
    assert set(result.best_params) >= {"max_depth", "learning_rate", "n_estimators"}
    assert result.default_params["n_estimators"] == 20  # the configured value, run as trial 0
    assert result.best_oof is not None and {"p_sell", "p_hold", "p_buy"} <= set(result.best_oof)
    overrides = tuned_overrides({"xgboost": result.as_dict()})
    assert overrides["xgboost"]["max_depth"] == result.best_params["max_depth"]
    assert improvement_summary({"xgboost": result}).loc[0, "trials"] == 5


@pytest.mark.slow
def test_sqlite_storage_resumes_the_study_and_reports_every_fold(
    planted: tuple, fast_config: dict, tmp_path: Path
) -> None:
    features, labels = planted
    url = f"sqlite:///{tmp_path / 'optuna.db'}"
    kwargs = {"config": _config(fast_config), "storage": url, "study_name": "s1"}
    first = tune_member("random_forest", features, labels, n_trials=2, **kwargs)
    second = tune_member("random_forest", features, labels, n_trials=2, **kwargs)
    study = optuna.load_study(study_name="s1", storage=url)
    assert len(study.trials) == 4
    assert sum(bool(t.user_attrs.get(DEFAULTS_ATTR)) for t in study.trials) == 1
    assert second.default_log_loss == first.default_log_loss
    assert second.tuned_log_loss <= first.tuned_log_loss
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    # One intermediate value per fold: what the MedianPruner compares.
    assert all(sorted(t.intermediate_values) == [0, 1, 2] for t in complete)


@pytest.mark.slow
@pytest.mark.postgres
def test_postgres_storage_shares_one_study(planted: tuple, fast_config: dict, pg_dsn: str) -> None:
    features, labels = planted
    kwargs = {"config": _config(fast_config), "storage": pg_dsn, "study_name": "shared"}
    tune_member("xgboost", features, labels, n_trials=1, **kwargs)
    # A second worker (here: a second call) joins the same study in PostgreSQL.
    tune_member("xgboost", features, labels, n_trials=1, **kwargs)
    study = optuna.load_study(study_name="shared", storage=pg_dsn)
    assert len(study.trials) == 2
    assert study.trials[0].user_attrs[DEFAULTS_ATTR] is True


@pytest.mark.slow
def test_median_pruner_stops_trials_worse_than_the_median(
    planted: tuple, fast_config: dict
) -> None:
    features, labels = planted
    config = _config(fast_config)
    config["tuning"].update(pruner_startup_trials=1, n_startup_trials=8)
    result = tune_member("xgboost", features, labels, config=config, n_trials=8, seed=3)
    # Seeded sampler + deterministic members: the same trials are pruned on every run.
    assert result.n_pruned >= 1
    assert result.n_complete + result.n_pruned == 8


def test_unknown_member_and_bad_settings_are_refused(planted: tuple) -> None:
    features, labels = planted
    with pytest.raises(TuningError, match="unknown member 'svm'"):
        tune_member("svm", features, labels)
    with pytest.raises(TuningError, match="n_trials=0"):
        tune_member("xgboost", features, labels, n_trials=0)


def test_storage_urls_are_redacted() -> None:
    assert (
        redact_url("postgresql://user:secret@db:5432/optuna")
        == "postgresql://user:***@db:5432/optuna"
    )
    assert redact_url("sqlite:////tmp/x.db") == "sqlite:////tmp/x.db"
    assert redact_url(None) == "in-memory"
