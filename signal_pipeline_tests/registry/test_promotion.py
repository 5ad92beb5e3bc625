"""The promotion policy as a pure function: every gate, with its reasons."""

from __future__ import annotations

import pytest

from signal_pipeline.registry.promotion import (
    GateFigures,
    PromotionPolicy,
    decide_promotion,
)

CHAMPION = GateFigures(oof_log_loss=0.90, holdout_ece=0.03, leakage_alarm_passed=True)


def test_better_calibrated_quiet_challenger_is_promoted() -> None:
    decision = decide_promotion(GateFigures(0.85, 0.04, True), CHAMPION, champion_version="1")
    assert decision.promote
    assert decision.gates == {"beats_champion": True, "calibrated": True, "no_leakage": True}
    assert "0.8500 beats champion v1 0.9000" in decision.summary()


@pytest.mark.parametrize(
    ("figures", "gate", "reason"),
    [
        (GateFigures(0.95, 0.02, True), "beats_champion", "does not beat"),
        (GateFigures(0.90, 0.02, True), "beats_champion", "does not beat"),  # a tie is no win
        (GateFigures(0.80, 0.051, True), "calibrated", "0.0510 > 0.05"),
        (GateFigures(0.80, 0.02, False), "no_leakage", "FIRED"),
        (GateFigures(0.80, 0.02, None), "no_leakage", "not run"),
        (GateFigures(0.80, None, True), "calibrated", "no held-out"),
    ],
)
def test_a_failed_gate_refuses_with_its_reason(
    figures: GateFigures, gate: str, reason: str
) -> None:
    decision = decide_promotion(figures, CHAMPION, champion_version="1")
    assert not decision.promote
    assert not decision.gates[gate]
    assert reason in decision.summary()
    assert decision.summary().startswith("refuse: ")


def test_first_version_needs_only_calibration_and_leakage_gates() -> None:
    assert decide_promotion(GateFigures(1.5, 0.05, True), None).promote  # ECE == 0.05 passes
    assert not decide_promotion(GateFigures(0.5, 0.2, True), None).promote


def test_policy_thresholds_are_configurable() -> None:
    policy = PromotionPolicy(max_ece=0.1, min_log_loss_improvement=0.02)
    assert not decide_promotion(GateFigures(0.89, 0.08, True), CHAMPION, policy).promote
    assert decide_promotion(GateFigures(0.87, 0.08, True), CHAMPION, policy).promote


def test_gate_figures_round_trip_through_tags_and_metrics() -> None:
    figures = GateFigures(0.912345678, 0.0321, False)
    assert GateFigures.from_tags(figures.as_tags()) == figures
    metrics = {
        "ensemble": {"log_loss": 0.9},
        "calibration_holdout": {"ece_calibrated": 0.04, "ece_uncalibrated": 0.2},
        "shuffled_label_alarm": {"passed": True},
        "ensemble_calibrated_in_sample": {"ece": 0.001},
    }
    assert GateFigures.from_metrics(metrics) == GateFigures(0.9, 0.04, True)
    assert GateFigures.from_metrics({"ensemble": {"log_loss": 0.9}}) == GateFigures(0.9, None, None)
