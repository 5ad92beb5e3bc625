"""Tune every member, then train the ensemble with the tuned parameters, in one call.

What the Dagster assets ``<member>_model`` → ``ensemble_model`` do step by step, as a
plain function for the CLI and the benchmark.
"""

from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from signal_pipeline.models.base import _deep_merge
from signal_pipeline.models.trained import TrainedEnsemble
from signal_pipeline.models.training import train_ensemble
from signal_pipeline.models.training_set import split_training_set, training_config
from signal_pipeline.models.tuning import TuningResult, tune_member, tuned_overrides


@dataclass
class TrainingOutcome:
    """The trained ensemble, the tuning result per member and seconds per step."""

    trained: TrainedEnsemble
    tuning: dict[str, TuningResult]
    seconds: dict[str, float] = field(default_factory=dict)


def train_with_tuning(
    training_set: pd.DataFrame,
    *,
    config: Mapping[str, Any] | None = None,
    members: Sequence[str] | None = None,
    storage: str | None = None,
    study_prefix: str = "signal",
    n_trials: int | None = None,
    timeout_s: float | None = None,
    oracle: pd.DataFrame | None = None,
    leakage_check: bool = True,
    progress: bool = False,
) -> TrainingOutcome:
    """Tune each member (``tuning.members``) on OOF log loss, then ``train_ensemble`` with
    the best params merged over ``config`` (overrides of :func:`training_config`)."""
    cfg = training_config(config)
    features, labels = split_training_set(training_set)
    names = list(members or cfg.get("tuning", {}).get("members", cfg["ensemble"]["members"]))
    seconds: dict[str, float] = {}
    results: dict[str, TuningResult] = {}
    for member in names:
        started = time.perf_counter()
        results[member] = tune_member(
            member,
            features,
            labels,
            config=cfg,
            n_trials=n_trials,
            timeout_s=timeout_s,
            storage=storage,
            study_name=f"{study_prefix}-{member}",
        )
        seconds[f"tune_{member}"] = time.perf_counter() - started
    started = time.perf_counter()
    trained = train_ensemble(
        features,
        labels,
        config=_deep_merge(cfg, tuned_overrides(results)),
        members=list(members) if members else None,
        oracle=oracle,
        leakage_check=leakage_check,
        progress=progress,
    )
    seconds["train_ensemble"] = time.perf_counter() - started
    return TrainingOutcome(trained=trained, tuning=results, seconds=seconds)
