"""The promotion policy: when a challenger may become ``champion``.

A challenger is promoted only when **all** gates pass:

1. **Beats the champion out of fold on log loss**: its OOF log loss (the uncalibrated
   soft vote over the purged walk-forward folds, ``metrics["ensemble"]["log_loss"]``) is
   below the champion's by more than ``min_log_loss_improvement`` (default 0: strictly
   lower). With no champion yet this gate passes.
2. **Calibrated**: the honest, held-out ECE (``metrics["calibration_holdout"]
   ["ece_calibrated"]``: the calibrator fitted on all OOF folds but the last and measured
   on the last) is at most ``max_ece`` (0.05). The in-sample calibrated ECE would flatter.
3. **No leakage**: the shuffled-label alarm ran and is quiet
   (``metrics["shuffled_label_alarm"]["passed"]``).

The figures travel with the model version as tags (``gate.oof_log_loss``,
``gate.holdout_ece``, ``gate.leakage_alarm_passed``), so the policy can compare any two
versions without reloading models. The decision lists every reason, passed or failed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from mlflow import MlflowClient

from signal_pipeline.registry.aliases import CHAMPION, MODEL_NAME, alias_version, set_alias

GATE_PREFIX = "gate."


@dataclass(frozen=True)
class PromotionPolicy:
    """Thresholds of the policy (see the module docstring)."""

    max_ece: float = 0.05
    min_log_loss_improvement: float = 0.0


@dataclass(frozen=True)
class GateFigures:
    """What the policy reads from a model version."""

    oof_log_loss: float | None
    holdout_ece: float | None
    leakage_alarm_passed: bool | None

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any]) -> GateFigures:
        """From ``TrainedEnsemble.metrics``."""
        holdout = metrics.get("calibration_holdout") or {}
        alarm = metrics.get("shuffled_label_alarm") or {}
        return cls(
            oof_log_loss=_number((metrics.get("ensemble") or {}).get("log_loss")),
            holdout_ece=_number(holdout.get("ece_calibrated")),
            leakage_alarm_passed=alarm.get("passed") if "passed" in alarm else None,
        )

    @classmethod
    def from_tags(cls, tags: Mapping[str, str]) -> GateFigures:
        """From a model version's ``gate.*`` tags."""
        passed = tags.get(f"{GATE_PREFIX}leakage_alarm_passed")
        return cls(
            oof_log_loss=_number(tags.get(f"{GATE_PREFIX}oof_log_loss")),
            holdout_ece=_number(tags.get(f"{GATE_PREFIX}holdout_ece")),
            leakage_alarm_passed=None if passed in (None, "none") else passed == "true",
        )

    def as_tags(self) -> dict[str, str]:
        def text(value: Any) -> str:
            if value is None:
                return "none"
            return str(value).lower() if isinstance(value, bool) else repr(float(value))

        return {f"{GATE_PREFIX}{k}": text(v) for k, v in asdict(self).items()}


def _number(value: Any) -> float | None:
    if value in (None, "none", ""):
        return None
    number = float(value)
    return number if math.isfinite(number) else None


@dataclass(frozen=True)
class PromotionDecision:
    """Whether the challenger becomes champion, and why (every gate listed)."""

    promote: bool
    challenger_version: str | None
    champion_version: str | None
    gates: dict[str, bool]
    reasons: tuple[str, ...]
    challenger: GateFigures
    champion: GateFigures | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def summary(self) -> str:
        verdict = "promote" if self.promote else "refuse"
        return f"{verdict}: " + "; ".join(self.reasons)

    def as_dict(self) -> dict[str, Any]:
        return {
            "promote": self.promote,
            "challenger_version": self.challenger_version,
            "champion_version": self.champion_version,
            "gates": self.gates,
            "reasons": list(self.reasons),
            "challenger": asdict(self.challenger),
            "champion": asdict(self.champion) if self.champion else None,
        }


def decide_promotion(
    challenger: GateFigures,
    champion: GateFigures | None,
    policy: PromotionPolicy | None = None,
    *,
    challenger_version: str | None = None,
    champion_version: str | None = None,
) -> PromotionDecision:
    """Apply the policy to the figures (pure function; no registry access)."""
    policy = policy or PromotionPolicy()
    gates: dict[str, bool] = {}
    reasons: list[str] = []

    if champion is None:
        gates["beats_champion"] = True
        reasons.append("no champion yet: the log-loss comparison does not apply")
    elif challenger.oof_log_loss is None or champion.oof_log_loss is None:
        gates["beats_champion"] = False
        reasons.append("OOF log loss missing on the challenger or the champion: cannot compare")
    else:
        margin = champion.oof_log_loss - challenger.oof_log_loss
        gates["beats_champion"] = margin > policy.min_log_loss_improvement
        relation = "beats" if gates["beats_champion"] else "does not beat"
        reasons.append(
            f"OOF log loss {challenger.oof_log_loss:.4f} {relation} champion v{champion_version} "
            f"{champion.oof_log_loss:.4f} (required improvement > {policy.min_log_loss_improvement})"
        )

    if challenger.holdout_ece is None:
        gates["calibrated"] = False
        reasons.append("no held-out calibration ECE (needs at least two CV folds)")
    else:
        gates["calibrated"] = challenger.holdout_ece <= policy.max_ece
        relation = "<=" if gates["calibrated"] else ">"
        reasons.append(f"held-out ECE {challenger.holdout_ece:.4f} {relation} {policy.max_ece}")

    if challenger.leakage_alarm_passed is None:
        gates["no_leakage"] = False
        reasons.append("shuffled-label alarm not run: train with leakage_check=True")
    else:
        gates["no_leakage"] = bool(challenger.leakage_alarm_passed)
        reasons.append(
            "shuffled-label alarm quiet"
            if gates["no_leakage"]
            else "shuffled-label alarm FIRED: features or folds leak label information"
        )
    return PromotionDecision(
        promote=all(gates.values()),
        challenger_version=challenger_version,
        champion_version=champion_version,
        gates=gates,
        reasons=tuple(reasons),
        challenger=challenger,
        champion=champion,
    )


def evaluate_version(
    version: str | int, *, name: str = MODEL_NAME, policy: PromotionPolicy | None = None
) -> PromotionDecision:
    """The decision for registered ``version`` against the current champion."""
    client = MlflowClient()
    version = str(version)
    candidate = client.get_model_version(name, version)
    champion = alias_version(CHAMPION, name=name)
    if champion is not None and str(champion.version) == version:
        figures = GateFigures.from_tags(candidate.tags)
        return PromotionDecision(
            promote=False,
            challenger_version=version,
            champion_version=version,
            gates={"already_champion": True},
            reasons=(f"v{version} already holds '{CHAMPION}'",),
            challenger=figures,
            champion=figures,
        )
    return decide_promotion(
        GateFigures.from_tags(candidate.tags),
        GateFigures.from_tags(champion.tags) if champion is not None else None,
        policy,
        challenger_version=version,
        champion_version=str(champion.version) if champion is not None else None,
    )


def apply_promotion(
    version: str | int, *, name: str = MODEL_NAME, policy: PromotionPolicy | None = None
) -> PromotionDecision:
    """Evaluate ``version`` and, when the policy allows, move ``champion`` to it (tagged
    with the decision's reasons). The decision is always recorded on the version as tags
    ``promotion.decision`` (promoted / refused / already_champion) and
    ``promotion.reasons``."""
    decision = evaluate_version(version, name=name, policy=policy)
    client = MlflowClient()
    if decision.gates.get("already_champion"):
        outcome = "already_champion"
    elif decision.promote:
        set_alias(version, CHAMPION, decision.summary(), name=name)
        outcome = "promoted"
    else:
        outcome = "refused"
    client.set_model_version_tag(name, str(version), "promotion.decision", outcome)
    client.set_model_version_tag(name, str(version), "promotion.reasons", decision.summary()[:5000])
    return decision
