"""The reasoning text of a signal: its probabilities and the features that drove it.

Drivers are local when the ensemble has an XGBoost member: the contributions of each
feature to that member's margin for the signal's class on this row, largest in absolute
value first; either Saabas's per-path attribution (``approx_contribs``, the default:
~15x cheaper) or exact TreeSHAP (``pred_contribs``, Lundberg et al. 2020). Without one (or if it
fails) the drivers are the features with the largest global importance among the
members that report one, with their current values. Filters and degradation are
spelled out too, so the stored text explains the signal on its own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from signal_pipeline.labels import CLASS_NAMES
from signal_pipeline.models.ensemble import SoftVotingEnsemble


class FeatureAttributor:
    """Names the features behind one prediction (see the module docstring)."""

    def __init__(
        self, ensemble: SoftVotingEnsemble, feature_names: Sequence[str], method: str = "saabas"
    ) -> None:
        self.feature_names = list(feature_names)
        self.method = method
        self._xgb = next(
            (m for m in ensemble.members.values() if getattr(m, "booster_", None) is not None),
            None,
        )
        self._global = self._global_importance(ensemble)

    def _global_importance(self, ensemble: SoftVotingEnsemble) -> np.ndarray:
        total = np.zeros(len(self.feature_names))
        for member in ensemble.members.values():
            importance = getattr(member, "feature_importance", None)
            if importance is None:
                continue
            try:
                scores = importance()
            except Exception:
                continue
            values = np.array([float(scores.get(n, 0.0)) for n in self.feature_names])
            if values.sum() > 0:
                total += values / values.sum()
        return total

    def drivers(
        self, values: np.ndarray, label: int, top: int
    ) -> tuple[list[tuple[str, float, float]], bool]:
        """Up to ``top`` (feature, value, weight) of the row ``values``: SHAP contribution
        toward class ``label`` when available (second item True), else the global
        importance share."""
        if top <= 0:
            return [], False
        local = self._local(values, label)
        weights = local if local is not None else self._global
        order = np.argsort(-np.abs(weights), kind="stable")[:top]
        found = [
            (self.feature_names[i], float(values[i]), float(weights[i]))
            for i in order
            if weights[i] != 0
        ]
        return found, local is not None

    def _local(self, values: np.ndarray, label: int) -> np.ndarray | None:
        member = self._xgb
        if member is None or self.method == "importance":
            return None
        present = [int(c) for c in member.present_classes_]
        if label not in present:
            return None
        import xgboost as xgb  # only here: the rest of the engine never needs it directly

        try:
            # No feature names: checking 100 names costs more than the contributions and
            # validate_features=False ignores them (same contributions, tested).
            matrix = xgb.DMatrix(values.reshape(1, -1), nthread=1)
            contribs = member.booster_.predict(
                matrix,
                pred_contribs=True,
                approx_contribs=self.method == "saabas",
                validate_features=False,
            )
        except Exception:
            return None
        contribs = np.asarray(contribs)
        if contribs.ndim == 3:  # (rows, classes, features + bias)
            return contribs[0, present.index(label), :-1]
        return contribs[0, :-1]


def reasoning_text(
    *,
    label: int,
    confidence: float,
    proba: np.ndarray,
    threshold: float,
    drivers: Sequence[tuple[str, float, float]],
    members_used: Sequence[str],
    failures: Mapping[str, str],
    filtered_by: Sequence[str],
    local: bool,
) -> str:
    parts = [
        f"{CLASS_NAMES[label]} at confidence {confidence:.3f} (calibrated p_sell {proba[0]:.3f}, "
        f"p_hold {proba[1]:.3f}, p_buy {proba[2]:.3f}; threshold {threshold:.2f})."
    ]
    if filtered_by:
        parts.append("Filtered to HOLD: " + "; ".join(filtered_by) + ".")
    if drivers:
        kind = "contribution" if local else "global importance"
        shown = ", ".join(f"{name}={value:.4g} ({weight:+.3g})" for name, value, weight in drivers)
        parts.append(f"Drivers ({kind}): {shown}.")
    parts.append(f"Members: {', '.join(members_used)}.")
    if failures:
        failed = "; ".join(f"{name} ({why})" for name, why in failures.items())
        parts.append(f"DEGRADED: answered without {failed}.")
    return " ".join(parts)
