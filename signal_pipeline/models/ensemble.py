"""Soft-voting ensemble of the members, its calibrator, and the confidence threshold.

``p = Σ_m w_m p_m / Σ_m w_m`` over the members present (the configured weights are
renormalised when a member is absent, e.g. an ensemble trained without the LSTM), then
the calibrator fitted on out-of-fold predictions maps ``p`` to calibrated probabilities.
The signal is the most probable class when its calibrated probability reaches
``confidence_threshold`` (0.6 in the spec), otherwise HOLD; ``confidence`` is the
calibrated probability of the signal's class (so a HOLD forced by the threshold reports
``p_hold``).

Saved as a folder: ``ensemble.json`` (weights, threshold, member kinds, calibrator) and
one sub-folder per member in its native format.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from signal_pipeline.labels import CLASS_NAMES, HOLD
from signal_pipeline.models.base import N_CLASSES, ModelError, SignalModel, load_model
from signal_pipeline.models.calibration import Calibrator, IdentityCalibrator, calibrator_from_dict

ENSEMBLE_FILE = "ensemble.json"


def soft_vote(member_proba: Mapping[str, np.ndarray], weights: Mapping[str, float]) -> np.ndarray:
    """Weighted mean of the members' (n, 3) probabilities, weights renormalised over the
    members present in ``member_proba``."""
    present = [name for name in member_proba if weights.get(name, 0.0) > 0]
    if not present:
        raise ModelError(
            f"no member with a positive weight among {sorted(member_proba)} (weights "
            f"{dict(weights)}): give at least one present member a weight > 0."
        )
    total = sum(weights[name] for name in present)
    combined = sum(weights[name] / total * np.asarray(member_proba[name]) for name in present)
    combined = np.asarray(combined, dtype=np.float64)
    return combined / combined.sum(axis=1, keepdims=True)


def apply_threshold(proba: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """(signal class, confidence) per row: argmax, or HOLD below ``threshold``."""
    chosen = proba.argmax(axis=1)
    signal = np.where(proba[np.arange(len(proba)), chosen] >= threshold, chosen, HOLD)
    return signal, proba[np.arange(len(proba)), signal]


class SoftVotingEnsemble:
    """Members + weights + calibrator + threshold: the deployable model."""

    def __init__(
        self,
        members: Mapping[str, SignalModel],
        weights: Mapping[str, float],
        *,
        calibrator: Calibrator | None = None,
        confidence_threshold: float = 0.6,
    ) -> None:
        if not members:
            raise ModelError("an ensemble needs at least one member.")
        unknown = sorted(set(members) - set(weights))
        if unknown:
            raise ModelError(f"members {unknown} have no weight: add them to ensemble.weights.")
        if not 0.0 <= confidence_threshold <= 1.0:
            raise ModelError(f"confidence_threshold={confidence_threshold}: must lie in [0, 1].")
        self.members = dict(members)
        self.weights = {name: float(weights[name]) for name in members}
        self.calibrator = calibrator or IdentityCalibrator()
        self.confidence_threshold = float(confidence_threshold)

    def member_proba(self, X: Any) -> dict[str, np.ndarray]:
        return {name: model.predict_proba(X) for name, model in self.members.items()}

    def predict_proba_uncalibrated(self, X: Any) -> np.ndarray:
        return soft_vote(self.member_proba(X), self.weights)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Calibrated (n, 3) probabilities, SELL/HOLD/BUY."""
        return self.calibrator.transform(self.predict_proba_uncalibrated(X))

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    def predict_signal(self, X: Any) -> pd.DataFrame:
        """One row per input row: ``signal`` (SELL/HOLD/BUY), ``label`` (0/1/2),
        ``confidence`` and the calibrated ``p_sell, p_hold, p_buy``."""
        proba = self.predict_proba(X)
        label, confidence = apply_threshold(proba, self.confidence_threshold)
        return pd.DataFrame(
            {
                "signal": np.asarray(CLASS_NAMES)[label],
                "label": label,
                "confidence": confidence,
                "p_sell": proba[:, 0],
                "p_hold": proba[:, 1],
                "p_buy": proba[:, 2],
            },
            index=X.index if isinstance(X, pd.DataFrame) else None,
        )

    def save(self, path: str | Path) -> Path:
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        for name, model in self.members.items():
            model.save(folder / name)
        spec = {
            "members": {name: model.kind for name, model in self.members.items()},
            "weights": self.weights,
            "confidence_threshold": self.confidence_threshold,
            "calibrator": self.calibrator.to_dict(),
            "n_classes": N_CLASSES,
        }
        (folder / ENSEMBLE_FILE).write_text(json.dumps(spec, indent=2))
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        file = folder / ENSEMBLE_FILE
        if not file.is_file():
            raise ModelError(f"{file} not found: {folder} is not a folder written by save().")
        spec = json.loads(file.read_text())
        members = {name: load_model(folder / name) for name in spec["members"]}
        return cls(
            members,
            spec["weights"],
            calibrator=calibrator_from_dict(spec["calibrator"]),
            confidence_threshold=spec["confidence_threshold"],
        )
