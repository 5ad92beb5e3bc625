"""Probability calibrators for the ensemble, fitted on out-of-fold predictions only.

- **Temperature scaling** (Guo et al., "On Calibration of Modern Neural Networks", ICML
  2017): ``p' = softmax(log p / T)`` with one ``T > 0`` chosen to minimise the log loss of
  the out-of-fold predictions. ``T > 1`` softens over-confident probabilities, ``T < 1``
  sharpens. It keeps the ranking of the classes, so the chosen class never changes.
- **Isotonic, one-vs-rest** (Zadrozny & Elkan, KDD 2002): per class a monotone map from
  that class's probability to its observed frequency, then the three columns are
  renormalised to sum 1. More flexible, needs more data, may change the chosen class.
- **Identity**: no calibration (``calibration: none``).

Fitting must use out-of-fold predictions: in-sample predictions of tree models are far
more confident than their out-of-sample ones and would teach the calibrator the wrong
map. Calibrators serialise to plain JSON (``to_dict`` / :func:`calibrator_from_dict`);
applying a loaded one reproduces the fitted one exactly.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar, Self

import numpy as np
from scipy.optimize import minimize_scalar
from sklearn.isotonic import IsotonicRegression

from signal_pipeline.models.base import N_CLASSES, ModelError, check_labels, check_sample_weight

_EPS = 1e-12


class CalibrationError(ModelError):
    """A calibrator got unusable inputs or was used before fitting."""


def _check_proba(proba: Any) -> np.ndarray:
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != N_CLASSES:
        raise CalibrationError(
            f"probabilities have shape {values.shape}: expected (n, 3) in SELL/HOLD/BUY order."
        )
    if not np.all(np.isfinite(values)) or np.any(values < 0):
        raise CalibrationError("probabilities contain negative or non-finite values.")
    return values


class IdentityCalibrator:
    """Leaves probabilities as they are."""

    method: ClassVar[str] = "none"

    def fit(self, proba: Any, y: Any, sample_weight: Any = None) -> Self:
        return self

    def transform(self, proba: Any) -> np.ndarray:
        return _check_proba(proba).copy()

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        return cls()


class TemperatureCalibrator:
    """One temperature for all classes; learned ``temperature_``."""

    method: ClassVar[str] = "temperature"

    def __init__(self, bounds: tuple[float, float] = (0.05, 20.0)) -> None:
        self.bounds = bounds

    @staticmethod
    def _scale(log_p: np.ndarray, temperature: float) -> np.ndarray:
        z = log_p / temperature
        z -= z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def fit(self, proba: Any, y: Any, sample_weight: Any = None) -> Self:
        values = _check_proba(proba)
        labels = check_labels(y, len(values))
        weight = check_sample_weight(sample_weight, len(values))
        if len(values) == 0:
            raise CalibrationError("no out-of-fold predictions to fit the temperature on.")
        w = np.ones(len(values)) if weight is None else weight
        log_p = np.log(np.clip(values, _EPS, 1.0))
        rows = np.arange(len(values))

        def nll(log_t: float) -> float:
            p = self._scale(log_p, math.exp(log_t))
            return float(-(w * np.log(np.clip(p[rows, labels], _EPS, 1.0))).sum() / w.sum())

        low, high = (math.log(b) for b in self.bounds)
        result = minimize_scalar(nll, bounds=(low, high), method="bounded", options={"xatol": 1e-6})
        self.temperature_ = float(math.exp(result.x))
        return self

    def transform(self, proba: Any) -> np.ndarray:
        if not hasattr(self, "temperature_"):
            raise CalibrationError("TemperatureCalibrator is not fitted: call fit on OOF data.")
        values = _check_proba(proba)
        return self._scale(np.log(np.clip(values, _EPS, 1.0)), self.temperature_)

    def to_dict(self) -> dict[str, Any]:
        return {
            "method": self.method,
            "temperature_": self.temperature_,
            "bounds": list(self.bounds),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        calibrator = cls(tuple(data["bounds"]))
        calibrator.temperature_ = float(data["temperature_"])
        return calibrator


class IsotonicCalibrator:
    """Isotonic regression per class (one-vs-rest), then renormalised.

    Learned: ``thresholds_`` (per class, the fitted step points ``(x, y)``). The map is
    applied with linear interpolation between them, clipped at the ends, which is what
    scikit-learn's ``IsotonicRegression.predict`` does.
    """

    method: ClassVar[str] = "isotonic"

    def fit(self, proba: Any, y: Any, sample_weight: Any = None) -> Self:
        values = _check_proba(proba)
        labels = check_labels(y, len(values))
        weight = check_sample_weight(sample_weight, len(values))
        if len(values) == 0:
            raise CalibrationError("no out-of-fold predictions to fit isotonic maps on.")
        self.thresholds_: list[tuple[list[float], list[float]]] = []
        for k in range(N_CLASSES):
            iso = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
            iso.fit(values[:, k], (labels == k).astype(np.float64), sample_weight=weight)
            self.thresholds_.append((iso.X_thresholds_.tolist(), iso.y_thresholds_.tolist()))
        return self

    def transform(self, proba: Any) -> np.ndarray:
        if not hasattr(self, "thresholds_"):
            raise CalibrationError("IsotonicCalibrator is not fitted: call fit on OOF data.")
        values = _check_proba(proba)
        out = np.column_stack(
            [np.interp(values[:, k], xs, ys) for k, (xs, ys) in enumerate(self.thresholds_)]
        )
        total = out.sum(axis=1, keepdims=True)
        # A row every map sends to 0 carries no information left: fall back to uniform.
        return np.where(total > 0, out / np.where(total > 0, total, 1.0), 1.0 / N_CLASSES)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "thresholds_": self.thresholds_}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Self:
        calibrator = cls()
        calibrator.thresholds_ = [(list(xs), list(ys)) for xs, ys in data["thresholds_"]]
        return calibrator


Calibrator = IdentityCalibrator | TemperatureCalibrator | IsotonicCalibrator
_METHODS: dict[str, type[Calibrator]] = {
    c.method: c for c in (IdentityCalibrator, TemperatureCalibrator, IsotonicCalibrator)
}


def make_calibrator(method: str | None) -> Calibrator:
    """A new, unfitted calibrator: ``"temperature"``, ``"isotonic"`` or ``"none"``."""
    key = "none" if method is None else str(method).lower()
    if key not in _METHODS:
        raise CalibrationError(f"calibration={method!r}: choose one of {sorted(_METHODS)}.")
    return _METHODS[key]()


def calibrator_from_dict(data: dict[str, Any]) -> Calibrator:
    """Rebuild a fitted calibrator from its ``to_dict()``."""
    return _METHODS[data["method"]].from_dict(data)
