"""Honest evaluation of class probabilities: skill, calibration, baselines, leakage alarm.

Conventions: ``proba`` is (n, 3) in SELL/HOLD/BUY order, ``y`` the true classes 0/1/2.

- **Expected calibration error** (Guo et al., ICML 2017; Naeini et al., AAAI 2015): the
  chosen-class confidence ``max_k p_k`` is cut into ``n_bins`` equal-width bins on [0, 1];
  ``ECE = Σ_b (n_b / n) · |accuracy_b − mean confidence_b|``. The reliability table lists
  those bins; the plot draws accuracy against confidence with the diagonal.
- **High / low confidence**: accuracy of the rows whose chosen-class probability is at or
  above the signal threshold (the rows that would become BUY/SELL signals), and of the rest.
- **Baselines**: the class prior of the training labels (always its probabilities), and the
  last label already *known* at ``ts`` for the same symbol (the latest label whose
  ``event_end`` is at or before ``ts``; using the previous row's label would peek ahead,
  since it resolves after ``ts``). Where no label is known yet, it falls back to the prior's
  most frequent class. The last-label baseline has no probabilities, so no log loss.
- **Oracle**: on simulated data, the simulator's true class probabilities; the gap in
  accuracy and log loss to the oracle is the skill left on the table.
- **Shuffled-label alarm**: train and test through the same purged CV with the labels
  randomly permuted. Nothing can be learned, so out-of-fold accuracy must not beat the
  best guess without features (the most frequent test class) by more than ``z`` binomial
  standard errors; a higher score means information leaks from labels into features or
  across folds.
"""

from __future__ import annotations

import io
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
from sklearn.metrics import (
    accuracy_score,
    balanced_accuracy_score,
    confusion_matrix,
    log_loss,
    precision_recall_fscore_support,
)

from signal_pipeline.labels import CLASS_NAMES
from signal_pipeline.models.base import N_CLASSES, ModelError, SignalModel, check_labels

_LABELS = list(range(N_CLASSES))


def _inputs(proba: Any, y: Any) -> tuple[np.ndarray, np.ndarray]:
    values = np.asarray(proba, dtype=np.float64)
    if values.ndim != 2 or values.shape[1] != N_CLASSES:
        raise ModelError(f"proba has shape {values.shape}: expected (n, 3) SELL/HOLD/BUY.")
    labels = check_labels(y, len(values))
    if len(values) == 0:
        raise ModelError("no rows to evaluate.")
    return values, labels


def reliability_table(proba: Any, y: Any, n_bins: int = 10) -> pd.DataFrame:
    """Per equal-width confidence bin: bounds, count, mean confidence, accuracy, gap."""
    values, labels = _inputs(proba, y)
    confidence = values.max(axis=1)
    correct = values.argmax(axis=1) == labels
    edges = np.linspace(0.0, 1.0, n_bins + 1)
    # Right-closed bins, the first one also closed on the left: a confidence of exactly
    # 1.0 falls in the last bin.
    bin_of = np.clip(np.searchsorted(edges, confidence, side="left") - 1, 0, n_bins - 1)
    count = np.bincount(bin_of, minlength=n_bins)
    with np.errstate(invalid="ignore", divide="ignore"):
        mean_conf = np.bincount(bin_of, weights=confidence, minlength=n_bins) / count
        accuracy = np.bincount(bin_of, weights=correct, minlength=n_bins) / count
    return pd.DataFrame(
        {
            "bin_lower": edges[:-1],
            "bin_upper": edges[1:],
            "count": count,
            "mean_confidence": mean_conf,
            "accuracy": accuracy,
            "gap": accuracy - mean_conf,
        }
    )


def expected_calibration_error(proba: Any, y: Any, n_bins: int = 10) -> float:
    """ECE of the chosen-class confidence over equal-width bins (see module docstring)."""
    table = reliability_table(proba, y, n_bins)
    used = table["count"] > 0
    weights = table.loc[used, "count"] / table["count"].sum()
    return float((weights * table.loc[used, "gap"].abs()).sum())


def reliability_plot(proba: Any, y: Any, n_bins: int = 10, title: str | None = None) -> bytes:
    """Reliability diagram as PNG bytes (matplotlib's Agg canvas, no pyplot state)."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    table = reliability_table(proba, y, n_bins)
    used = table["count"] > 0
    figure = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", label="perfect calibration")
    centres = (table["bin_lower"] + table["bin_upper"]) / 2
    axes.bar(
        centres[used],
        table.loc[used, "accuracy"],
        width=1.0 / n_bins,
        alpha=0.6,
        edgecolor="black",
        label="accuracy per bin",
    )
    axes.plot(
        table.loc[used, "mean_confidence"], table.loc[used, "accuracy"], "o-", label="bin mean"
    )
    ece = expected_calibration_error(proba, y, n_bins)
    axes.set(
        xlim=(0, 1),
        ylim=(0, 1),
        xlabel="confidence (chosen-class probability)",
        ylabel="accuracy",
        title=title or f"Reliability (ECE = {ece:.3f})",
    )
    axes.legend(loc="upper left")
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def classification_metrics(
    proba: Any, y: Any, *, threshold: float = 0.6, n_bins: int = 10
) -> dict[str, Any]:
    """Accuracy, balanced accuracy, log loss, per-class precision/recall, confusion matrix
    (rows = true class), ECE and the accuracy above/below the confidence ``threshold``."""
    values, labels = _inputs(proba, y)
    predicted = values.argmax(axis=1)
    precision, recall, _, support = precision_recall_fscore_support(
        labels, predicted, labels=_LABELS, zero_division=0
    )
    confident = values.max(axis=1) >= threshold
    with warnings.catch_warnings():
        # With 3 fixed classes a test window may lack one; the mean runs over those present.
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        balanced = float(balanced_accuracy_score(labels, predicted))
    metrics: dict[str, Any] = {
        "n": len(labels),
        "accuracy": float(accuracy_score(labels, predicted)),
        "balanced_accuracy": balanced,
        "log_loss": float(log_loss(labels, np.clip(values, 1e-15, 1.0), labels=_LABELS)),
        "ece": expected_calibration_error(values, labels, n_bins),
        "confusion_matrix": confusion_matrix(labels, predicted, labels=_LABELS).tolist(),
        "threshold": float(threshold),
        "high_conf_share": float(confident.mean()),
        "high_conf_accuracy": float((predicted == labels)[confident].mean())
        if confident.any()
        else float("nan"),
        "low_conf_accuracy": float((predicted == labels)[~confident].mean())
        if (~confident).any()
        else float("nan"),
    }
    for k, name in enumerate(CLASS_NAMES):
        metrics[f"precision_{name.lower()}"] = float(precision[k])
        metrics[f"recall_{name.lower()}"] = float(recall[k])
        metrics[f"support_{name.lower()}"] = int(support[k])
    return metrics


def class_prior(y: Any, sample_weight: Any = None) -> np.ndarray:
    """Class frequencies of ``y`` (length 3)."""
    labels = check_labels(y, len(np.asarray(y)))
    counts = np.bincount(labels, weights=sample_weight, minlength=N_CLASSES).astype(float)
    return counts / counts.sum()


def last_known_label(labels: pd.DataFrame, at: pd.DataFrame, fallback: int) -> np.ndarray:
    """For each row of ``at`` (symbol, ts), the latest label of ``labels`` (symbol, ts,
    label, event_end) of the same symbol whose ``event_end <= ts``; ``fallback`` if none."""
    known = labels[["symbol", "event_end", "label"]].sort_values("event_end", kind="stable")
    query = at[["symbol", "ts"]].assign(_row=np.arange(len(at))).sort_values("ts", kind="stable")
    merged = pd.merge_asof(
        query, known, left_on="ts", right_on="event_end", by="symbol", direction="backward"
    )
    out = np.full(len(at), fallback, dtype=np.int64)
    found = merged["label"].notna().to_numpy()
    out[merged["_row"].to_numpy()[found]] = merged["label"].to_numpy()[found].astype(np.int64)
    return out


def baseline_metrics(
    test: pd.DataFrame, all_labels: pd.DataFrame, *, prior: Any
) -> dict[str, dict[str, Any]]:
    """Metrics of the class-prior and last-known-label baselines on ``test`` (symbol, ts,
    label). ``all_labels`` (symbol, ts, label, event_end) are the labels as they become
    known over time; ``prior`` is the training class prior, (3,) or one row per test row
    (each fold's own training prior)."""
    y_test = check_labels(test["label"].to_numpy(), len(test))
    prior_proba = np.broadcast_to(np.asarray(prior, dtype=np.float64), (len(test), N_CLASSES))
    prior_choice = prior_proba.argmax(axis=1)
    last = last_known_label(all_labels, test, fallback=-1)
    last = np.where(last >= 0, last, prior_choice)
    return {
        "class_prior": {
            "accuracy": float(accuracy_score(y_test, prior_choice)),
            "balanced_accuracy": float(balanced_accuracy_score(y_test, prior_choice)),
            "log_loss": float(log_loss(y_test, np.clip(prior_proba, 1e-15, 1), labels=_LABELS)),
        },
        "last_label": {
            "accuracy": float(accuracy_score(y_test, last)),
            "balanced_accuracy": float(balanced_accuracy_score(y_test, last)),
        },
    }


def oracle_comparison(proba: Any, y: Any, oracle_proba: Any) -> dict[str, float]:
    """Accuracy and log loss of the model and of the oracle, and the gaps (oracle − model
    for accuracy, model − oracle for log loss: positive = the model is worse)."""
    model = classification_metrics(proba, y)
    oracle = classification_metrics(oracle_proba, y)
    return {
        "model_accuracy": model["accuracy"],
        "oracle_accuracy": oracle["accuracy"],
        "accuracy_gap": oracle["accuracy"] - model["accuracy"],
        "model_log_loss": model["log_loss"],
        "oracle_log_loss": oracle["log_loss"],
        "log_loss_gap": model["log_loss"] - oracle["log_loss"],
    }


@dataclass(frozen=True)
class ShuffledLabelResult:
    """Outcome of :func:`shuffled_label_alarm`; ``passed`` False means suspected leakage."""

    accuracy: float
    chance: float
    standard_error: float
    margin: float
    n: int
    passed: bool

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def shuffled_label_alarm(
    X: Any,
    y: Any,
    *,
    cv: Any,
    groups: Any = None,
    model_factory: Callable[[], SignalModel] | None = None,
    seed: int = 0,
    z: float = 3.0,
) -> ShuffledLabelResult:
    """Out-of-fold accuracy with permuted labels against chance (see module docstring).

    ``model_factory`` builds a fresh member per fold (default: the configured XGBoost).
    ``chance`` is the share of the most frequent class among the test rows and the margin
    is ``z · sqrt(chance (1 − chance) / n)``.
    """
    if model_factory is None:
        from signal_pipeline.models.xgb import XGBoostModel

        model_factory = XGBoostModel
    labels = check_labels(y, len(X))
    shuffled = np.random.default_rng(seed).permutation(labels)
    correct: list[np.ndarray] = []
    tested: list[np.ndarray] = []
    for train, test in cv.split(X, shuffled, groups):
        model = model_factory().fit(_take(X, train), shuffled[train])
        predicted = model.predict_proba(_take(X, test)).argmax(axis=1)
        correct.append(predicted == shuffled[test])
        tested.append(shuffled[test])
    hits = np.concatenate(correct)
    truth = np.concatenate(tested)
    n = len(hits)
    chance = float(np.bincount(truth, minlength=N_CLASSES).max() / n)
    se = float(np.sqrt(chance * (1 - chance) / n))
    accuracy = float(hits.mean())
    return ShuffledLabelResult(
        accuracy=accuracy,
        chance=chance,
        standard_error=se,
        margin=z * se,
        n=n,
        passed=accuracy <= chance + z * se,
    )


def _take(X: Any, rows: np.ndarray) -> Any:
    return X.iloc[rows] if isinstance(X, pd.DataFrame) else np.asarray(X)[rows]
