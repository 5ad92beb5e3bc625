"""Feature importance of the tree members, stored with every model version.

Three measures, one long table (``member, kind, feature, importance, std, rank``):

- ``gain``: XGBoost's average gain of the splits on the feature, from the member refitted
  on all rows (what is deployed). Features never split on get 0.
- ``impurity``: the Random Forest's mean decrease in impurity (normalised to sum 1), also
  from the deployed forest. Known to favour high-cardinality features; it says what the
  forest used, not what generalises.
- ``permutation``: on the **validation** folds of the purged walk-forward CV. For each of the
  last ``folds`` folds the member is fitted on that fold's purged training rows, then each
  feature column of the test rows is permuted ``n_repeats`` times; the importance is the
  mean increase in log loss (std over folds × repeats). Measured out of sample, so a
  feature that only helped the model memorise scores about 0 (or below).

The LSTM has no per-feature importance here (permuting one column of a 50-step sequence
would cost a full sequence rebuild per feature and repeat, beyond the demo's budget).
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import log_loss

from signal_pipeline.models.base import ModelError, load_model_config, model_class
from signal_pipeline.models.cv import PurgedWalkForward
from signal_pipeline.models.trained import TrainedEnsemble
from signal_pipeline.models.training import make_cv, prepare_training_data

IMPORTANCE_COLUMNS = ("member", "kind", "feature", "importance", "std", "rank")
_LABELS = [0, 1, 2]


def _ranked(member: str, kind: str, values: Mapping[str, float], std: Any = None) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "member": member,
            "kind": kind,
            "feature": list(values),
            "importance": np.asarray(list(values.values()), dtype=np.float64),
            "std": np.nan if std is None else np.asarray(std, dtype=np.float64),
        }
    )
    frame = frame.sort_values("importance", ascending=False, kind="stable")
    frame["rank"] = np.arange(1, len(frame) + 1)
    return frame.reset_index(drop=True)


def model_importance(trained: TrainedEnsemble) -> pd.DataFrame:
    """Gain (XGBoost) and impurity (Random Forest) of the deployed members present."""
    parts = []
    members = trained.ensemble.members
    if "xgboost" in members:
        parts.append(_ranked("xgboost", "gain", members["xgboost"].feature_importance("gain")))
    if "random_forest" in members:
        parts.append(
            _ranked("random_forest", "impurity", members["random_forest"].feature_importance())
        )
    if not parts:
        return pd.DataFrame(columns=list(IMPORTANCE_COLUMNS))
    return pd.concat(parts, ignore_index=True)


def permutation_importance(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    members: Sequence[str] = ("xgboost", "random_forest"),
    config: Mapping[str, Any] | None = None,
    cv: PurgedWalkForward | None = None,
    folds: int | None = None,
    n_repeats: int | None = None,
    seed: int = 0,
) -> pd.DataFrame:
    """Permutation importance (increase in log loss) on the last ``folds`` validation folds.

    Member params come from ``config`` (overrides over ``models.yaml``; pass the tuned
    ones); ``folds``/``n_repeats`` default to the ``importance`` section.
    """
    cfg = load_model_config(overrides=config)
    settings = dict(cfg.get("importance", {}))
    folds = int(folds if folds is not None else settings.get("folds", 2))
    n_repeats = int(n_repeats if n_repeats is not None else settings.get("n_repeats", 3))
    if folds < 1 or n_repeats < 1:
        raise ModelError(f"folds={folds}, n_repeats={n_repeats}: both must be at least 1.")
    data = prepare_training_data(features, labels)
    splits = list((cv or make_cv(cfg)).split(data.X, data.y, data.times))[-folds:]
    names = data.feature_names
    rng = np.random.default_rng(seed)
    parts = []
    for member in members:
        increases: dict[str, list[float]] = {name: [] for name in names}
        for train, test in splits:
            model = model_class(member)(cfg.get(member, {})).fit(data.X.iloc[train], data.y[train])
            # Keys are not features; keep them for members that build sequences.
            test_frame = data.X.iloc[test].reset_index(drop=True)
            y_test = data.y[test]
            base = log_loss(
                y_test, np.clip(model.predict_proba(test_frame), 1e-15, 1), labels=_LABELS
            )
            for name in names:
                original = test_frame[name].to_numpy().copy()
                for _ in range(n_repeats):
                    test_frame[name] = rng.permutation(original)
                    proba = np.clip(model.predict_proba(test_frame), 1e-15, 1)
                    increases[name].append(log_loss(y_test, proba, labels=_LABELS) - base)
                test_frame[name] = original
        parts.append(
            _ranked(
                member,
                "permutation",
                {n: float(np.mean(v)) for n, v in increases.items()},
                [float(np.std(v)) for v in increases.values()],
            )
        )
    return pd.concat(parts, ignore_index=True)


def importance_plot(table: pd.DataFrame, top: int = 25) -> bytes:
    """PNG (bytes): one horizontal bar chart per (member, kind), the ``top`` features."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    groups = list(table.groupby(["member", "kind"], sort=True))
    if not groups:
        raise ModelError("importance table is empty: nothing to plot.")
    shown = min(top, int(table.groupby(["member", "kind"]).size().max()))
    figure = Figure(figsize=(6 * len(groups), 0.28 * shown + 1.5), dpi=100)
    FigureCanvasAgg(figure)
    for i, ((member, kind), rows) in enumerate(groups, start=1):
        axes = figure.add_subplot(1, len(groups), i)
        head = rows.nsmallest(top, "rank").iloc[::-1]
        error = head["std"].to_numpy() if head["std"].notna().any() else None
        axes.barh(head["feature"], head["importance"], xerr=error, color="steelblue")
        axes.set(title=f"{member}: {kind}", xlabel="importance")
        axes.tick_params(axis="y", labelsize=7)
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()
