"""Fault-tolerant ensemble voting: each member predicts on its own, failures are recorded.

The arithmetic is the ensemble's own (:func:`signal_pipeline.models.soft_vote`, the
ensemble's calibrator, :func:`signal_pipeline.models.apply_threshold`), applied to the
members that answered, so with every member healthy the result equals
``TrainedEnsemble.predict_signal`` bit for bit. A member that fails to load, raises, or
returns unusable probabilities is left out: the weights renormalise over the others and
the vote is marked degraded. With no member left the vote raises
:class:`ModelUnavailableError` (HTTP 503).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.inference.errors import ModelUnavailableError
from signal_pipeline.models.base import ModelError, SignalModel, load_model
from signal_pipeline.models.calibration import calibrator_from_dict
from signal_pipeline.models.ensemble import (
    ENSEMBLE_FILE,
    SoftVotingEnsemble,
    apply_threshold,
    soft_vote,
)
from signal_pipeline.models.trained import TRAINING_FILE, TrainedEnsemble

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Vote:
    """The ensemble's answer for one row."""

    proba: np.ndarray  # calibrated p_sell, p_hold, p_buy
    label: int
    confidence: float
    members_used: tuple[str, ...]
    weights: Mapping[str, float]  # renormalised over the members used
    failures: Mapping[str, str] = field(default_factory=dict)

    @property
    def degraded(self) -> bool:
        return bool(self.failures)


def context_rows(member: SignalModel) -> int:
    """Feature rows a member needs to predict the last one exactly: the LSTM's sequence
    length (it builds sequences from the rows it is given), one for the others."""
    if getattr(member, "kind", None) == "lstm":
        return max(1, int(member.params.get("sequence_length", 50)))
    return 1


def _use_threads(member: SignalModel, threads: int | None) -> None:
    """One-row predictions are fastest on one thread: thread-pool start-up and spinning
    (OpenMP for XGBoost, torch's pool for the LSTM, both loaded in one process) cost more
    than the work; on a busy 2-core machine the LSTM took 900 ms on 2 threads and 7.5 ms
    on one for the same, bit-identical, answer. Only thread counts change."""
    if threads is None:
        return
    booster = getattr(member, "booster_", None)
    if booster is not None and hasattr(booster, "set_param"):
        booster.set_param({"nthread": int(threads)})
    if getattr(member, "kind", None) == "lstm":
        member.params["num_threads"] = int(threads)


class MemberVoter:
    """Votes with the members of ``ensemble`` that work (see the module docstring)."""

    def __init__(
        self,
        ensemble: SoftVotingEnsemble,
        *,
        load_failures: Mapping[str, str] | None = None,
        member_threads: int | None = 1,
    ) -> None:
        self.ensemble = ensemble
        self.load_failures = dict(load_failures or {})
        self.contexts = {name: context_rows(m) for name, m in ensemble.members.items()}
        self.context = max(self.contexts.values(), default=1)
        for member in ensemble.members.values():
            _use_threads(member, member_threads)

    def vote(self, X: np.ndarray) -> Vote:
        """Vote on the LAST row of ``X``: a (rows, features) array of one symbol's feature
        rows in time order, columns in the ensemble's feature order. Earlier rows are the
        context sequence members such as the LSTM read. A bare array (the member contract
        allows it) skips the members' DataFrame handling, the bulk of one-row latency;
        the values, and so the predictions, are the same."""
        failures = dict(self.load_failures)
        answers: dict[str, np.ndarray] = {}
        for name, member in self.ensemble.members.items():
            rows = X[-self.contexts[name] :]
            # A sequence member answers for the last row only (``predict_last``, equal to
            # the last row of its predict_proba) instead of for every context row.
            last_only = getattr(member, "predict_last", None)
            try:
                if last_only is not None:
                    proba = np.asarray(last_only(rows), dtype=np.float64)
                else:
                    proba = np.asarray(member.predict_proba(rows), dtype=np.float64)
            # A member is library code (xgboost, sklearn, torch) that may fail in ways we
            # cannot enumerate; any failure must degrade the vote, never end the request.
            except Exception as exc:
                failures[name] = f"{type(exc).__name__}: {exc}"[:300]
                log.warning("ensemble member %s failed: %s", name, failures[name])
                continue
            problem = _check_member_output(proba, 1 if last_only is not None else len(rows))
            if problem:
                failures[name] = problem
                log.warning("ensemble member %s failed: %s", name, problem)
                continue
            answers[name] = proba[-1:]
        used = [name for name in answers if self.ensemble.weights.get(name, 0.0) > 0]
        if not used:
            raise ModelUnavailableError(failures or {"ensemble": "no member has a positive weight"})
        combined = soft_vote(answers, self.ensemble.weights)
        proba = self.ensemble.calibrator.transform(combined)
        label, confidence = apply_threshold(proba, self.ensemble.confidence_threshold)
        total = sum(self.ensemble.weights[name] for name in used)
        return Vote(
            proba=proba[0],
            label=int(label[0]),
            confidence=float(confidence[0]),
            members_used=tuple(used),
            weights={name: self.ensemble.weights[name] / total for name in used},
            failures=failures,
        )


def _check_member_output(proba: np.ndarray, n_rows: int) -> str | None:
    if proba.shape != (n_rows, 3):
        return f"returned probabilities of shape {proba.shape}, expected ({n_rows}, 3)"
    last = proba[-1]
    if not np.all(np.isfinite(last)) or np.any(last < 0) or abs(last.sum() - 1.0) > 1e-6:
        return f"returned invalid probabilities {last.tolist()} (need finite, >= 0, summing to 1)"
    return None


def load_ensemble_tolerant(path: str | Path) -> tuple[TrainedEnsemble, dict[str, str]]:
    """Load a :meth:`TrainedEnsemble.save` folder member by member: a member that fails
    to load is reported in the returned ``{member: reason}`` and left out (its weight
    renormalises away), instead of failing the whole load. The out-of-fold frame is not
    read (inference does not need it). Raises :class:`ModelUnavailableError` when no
    member loads, :class:`ModelError` when the folder is not an ensemble folder."""
    folder = Path(path)
    training_file = folder / TRAINING_FILE
    spec_file = folder / "ensemble" / ENSEMBLE_FILE
    for file in (training_file, spec_file):
        if not file.is_file():
            raise ModelError(f"{file} not found: {folder} is not a TrainedEnsemble.save() folder.")
    training = json.loads(training_file.read_text())
    spec: dict[str, Any] = json.loads(spec_file.read_text())
    members: dict[str, SignalModel] = {}
    failures: dict[str, str] = {}
    for name in spec["members"]:
        try:
            members[name] = load_model(folder / "ensemble" / name)
        # Loading runs third-party deserialisers (xgboost, skops, torch): any failure of
        # one member is reported and the others still serve.
        except Exception as exc:
            failures[name] = f"failed to load: {type(exc).__name__}: {exc}"[:300]
            log.warning("ensemble member %s %s", name, failures[name])
    if not members:
        raise ModelUnavailableError(failures)
    ensemble = SoftVotingEnsemble(
        members,
        {name: spec["weights"][name] for name in members},
        calibrator=calibrator_from_dict(spec["calibrator"]),
        confidence_threshold=spec["confidence_threshold"],
    )
    trained = TrainedEnsemble(
        ensemble=ensemble,
        oof=pd.DataFrame(),
        metrics=training.get("metrics", {}),
        feature_names=list(training["feature_names"]),
        config=training.get("config", {}),
    )
    return trained, failures
