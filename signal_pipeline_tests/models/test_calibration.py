"""Calibrators repair deliberately mis-calibrated probabilities on a held-out fold."""

from __future__ import annotations

import numpy as np
import pytest

from signal_pipeline.models import (
    IsotonicCalibrator,
    TemperatureCalibrator,
    expected_calibration_error,
    make_calibrator,
)
from signal_pipeline.models.calibration import CalibrationError, calibrator_from_dict


def _overconfident(n: int, temperature: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """True class probabilities p, labels drawn from p, and reported softmax(log p · T):
    the reported probabilities are p sharpened by T, so temperature T undoes them."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 1.0, size=(n, 3))
    p = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    y = np.array([rng.choice(3, p=row) for row in p])
    sharp = np.exp(np.log(p) * temperature)
    return sharp / sharp.sum(axis=1, keepdims=True), y


@pytest.mark.parametrize("method", ["temperature", "isotonic"])
def test_calibration_lowers_ece_on_a_held_out_fold(method: str) -> None:
    fit_proba, fit_y = _overconfident(4000, temperature=3.0, seed=1)
    test_proba, test_y = _overconfident(4000, temperature=3.0, seed=2)
    calibrator = make_calibrator(method).fit(fit_proba, fit_y)
    before = expected_calibration_error(test_proba, test_y)
    after = expected_calibration_error(calibrator.transform(test_proba), test_y)
    assert before > 0.15  # the data really is mis-calibrated
    assert after < before / 3
    np.testing.assert_allclose(calibrator.transform(test_proba).sum(axis=1), 1.0, atol=1e-12)


def test_temperature_recovers_the_sharpening_factor() -> None:
    proba, y = _overconfident(6000, temperature=2.5, seed=3)
    calibrator = TemperatureCalibrator().fit(proba, y)
    assert calibrator.temperature_ == pytest.approx(2.5, rel=0.1)
    # Temperature scaling never changes the chosen class.
    np.testing.assert_array_equal(calibrator.transform(proba).argmax(1), proba.argmax(1))


@pytest.mark.parametrize("cls", [TemperatureCalibrator, IsotonicCalibrator])
def test_serialised_calibrator_reproduces_exactly(cls: type) -> None:
    proba, y = _overconfident(500, temperature=2.0, seed=4)
    fitted = cls().fit(proba, y)
    loaded = calibrator_from_dict(fitted.to_dict())
    np.testing.assert_array_equal(loaded.transform(proba), fitted.transform(proba))


def test_unknown_method_and_unfitted_use_are_refused() -> None:
    with pytest.raises(CalibrationError, match="platt"):
        make_calibrator("platt")
    with pytest.raises(CalibrationError, match="not fitted"):
        TemperatureCalibrator().transform(np.full((2, 3), 1 / 3))
