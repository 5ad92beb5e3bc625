"""``train_ensemble``: feature table + labels in, a calibrated, evaluated ensemble out.

Steps (each one counted or measured in the result):

1. Join features and labels on (symbol, ts). Feature rows without a label and labels
   without a feature row are left out and counted; rows with a missing feature value
   are dropped and counted as ``warmup`` (the leading rows of a symbol, before every
   indicator has its history) or ``missing`` (any later row).
2. Purged walk-forward CV (:class:`PurgedWalkForward`, settings from ``cv`` in
   ``models.yaml``): every member is fitted per fold on the purged training rows and
   predicts the test window, giving out-of-fold (OOF) probabilities per member; their
   soft vote is the OOF ensemble.
3. Calibration, honestly measured: a calibrator fitted on the OOF rows of all folds but
   the last is evaluated on the last fold (``metrics["calibration_holdout"]``: ECE and log
   loss before and after). The deployed calibrator is then fitted on all OOF rows.
4. Metrics on the OOF rows: the ensemble, each member, the naive baselines (each fold's
   training class prior; the last label known at ``ts``), and the oracle when given.
5. Every member is refitted on all rows; the result holds the members, the calibrator,
   the OOF frame and the metrics, and saves to / loads from a folder.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
from tqdm.auto import tqdm

from signal_pipeline.labels import CLASS_NAMES
from signal_pipeline.models.base import (
    KEY_COLUMNS,
    ModelError,
    check_labels,
    load_model_config,
    model_class,
    with_key_columns,
)
from signal_pipeline.models.calibration import make_calibrator
from signal_pipeline.models.cv import PurgedWalkForward
from signal_pipeline.models.ensemble import SoftVotingEnsemble, soft_vote
from signal_pipeline.models.evaluation import (
    baseline_metrics,
    class_prior,
    classification_metrics,
    expected_calibration_error,
    oracle_comparison,
    shuffled_label_alarm,
)
from signal_pipeline.models.trained import PROBA_COLUMNS, TrainedEnsemble

logger = logging.getLogger(__name__)


class TrainingError(ModelError):
    """The inputs of ``train_ensemble`` cannot be trained on; the message says why."""


@dataclass
class PreparedData:
    """Joined, cleaned training rows: keys + features (``X``), labels and label times."""

    X: pd.DataFrame
    y: np.ndarray
    times: pd.DataFrame
    feature_names: list[str]
    dropped: dict[str, int]


def prepare_training_data(features: pd.DataFrame, labels: pd.DataFrame) -> PreparedData:
    """Step 1 of :func:`train_ensemble`: join, drop and count (see the module docstring)."""
    feats = with_key_columns(features, "features", TrainingError)
    labs = with_key_columns(labels, "labels", TrainingError)
    missing = [c for c in ("label", "event_end") if c not in labs.columns]
    if missing:
        raise TrainingError(
            f"labels lack {missing}: pass the frame of signal_pipeline.labels."
            "triple_barrier_labels (symbol, ts, label, event_end, ...)."
        )
    feature_names = [c for c in feats.columns if c not in KEY_COLUMNS]
    if not feature_names:
        raise TrainingError("features have no feature columns besides 'symbol' and 'ts'.")
    clash = sorted(set(feature_names) & {"label", "event_end"})
    if clash:
        raise TrainingError(f"feature columns {clash} clash with label columns: rename them.")
    joined = feats.merge(
        labs[["symbol", "ts", "label", "event_end"]], on=list(KEY_COLUMNS), how="inner"
    )
    joined = joined.sort_values(["symbol", "ts"], kind="stable").reset_index(drop=True)
    values = joined[feature_names].to_numpy(dtype=np.float64)
    incomplete = ~np.isfinite(values).all(axis=1)
    # Warm-up = incomplete rows before a symbol's first complete row.
    complete_seen = pd.Series(~incomplete).groupby(joined["symbol"].to_numpy()).cummax().to_numpy()
    warmup = incomplete & ~complete_seen
    dropped = {
        "features_without_label": int(len(feats) - len(joined)),
        "labels_without_features": int(len(labs) - len(joined)),
        "warmup": int(warmup.sum()),
        "missing": int((incomplete & ~warmup).sum()),
    }
    kept = joined.loc[~incomplete].reset_index(drop=True)
    if kept.empty:
        raise TrainingError(
            f"no rows left to train on after joining features and labels (dropped {dropped})."
        )
    logger.info("training rows: %d kept, dropped %s", len(kept), dropped)
    return PreparedData(
        X=kept[[*KEY_COLUMNS, *feature_names]],
        y=check_labels(kept["label"].to_numpy(), len(kept)),
        times=kept[["ts", "event_end"]],
        feature_names=feature_names,
        dropped=dropped,
    )


def make_cv(config: Mapping[str, Any]) -> PurgedWalkForward:
    """A :class:`PurgedWalkForward` from the ``cv`` section of the model config."""
    return PurgedWalkForward(**dict(config.get("cv", {})))


def train_ensemble(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    config: Mapping[str, Any] | None = None,
    cv: PurgedWalkForward | None = None,
    members: Sequence[str] | None = None,
    oracle: pd.DataFrame | None = None,
    leakage_check: bool = False,
    progress: bool = True,
) -> TrainedEnsemble:
    """Train, calibrate and evaluate the ensemble (see the module docstring).

    Args:
        features: feature table keyed (symbol, ts), one float column per feature.
        labels: output of :func:`signal_pipeline.labels.triple_barrier_labels`.
        config: overrides deep-merged over ``config/models.yaml`` (e.g.
            ``{"lstm": {"epochs": 5}}``); member params, weights, threshold, calibration, cv.
        cv: a splitter to use instead of the one built from ``config["cv"]``; it receives
            ``groups=DataFrame(ts, event_end)``.
        members: member names to train (default ``ensemble.members``); weights are
            renormalised over them.
        oracle: simulator oracle (symbol, ts, p_sell, p_hold, p_buy) for the oracle gap.
        leakage_check: also run :func:`shuffled_label_alarm` (the XGBoost member through
            the same CV on permuted labels) into ``metrics["shuffled_label_alarm"]``.
        progress: show a tqdm bar over the fits.
    """
    cfg = load_model_config(overrides=config)
    ens_cfg = cfg["ensemble"]
    if ens_cfg.get("voting_method", "soft") != "soft":
        raise TrainingError(
            f"ensemble.voting_method={ens_cfg['voting_method']!r}: only 'soft' voting is "
            "implemented (it is what the calibrator needs: probabilities, not votes)."
        )
    names = list(members or ens_cfg.get("members", ["xgboost", "random_forest", "lstm"]))
    configured = list(ens_cfg.get("members", ["xgboost", "random_forest", "lstm"]))
    weights_list = list(ens_cfg.get("weights", []))
    if len(weights_list) != len(configured):
        raise TrainingError(
            f"ensemble.weights {weights_list} and ensemble.members {configured} differ in "
            "length: give one weight per member."
        )
    weights = dict(zip(configured, map(float, weights_list), strict=True))
    unknown = [n for n in names if n not in weights]
    if unknown:
        raise TrainingError(f"members {unknown} are not in ensemble.members {configured}.")

    data = prepare_training_data(features, labels)
    splitter = cv or make_cv(cfg)
    groups = data.times
    folds = list(splitter.split(data.X, data.y, groups))
    n_rows = len(data.y)
    fold_of = np.full(n_rows, -1, dtype=np.int64)
    member_oof = {name: np.full((n_rows, 3), np.nan) for name in names}
    prior_oof = np.full((n_rows, 3), np.nan)

    bar = tqdm(
        total=len(folds) * len(names) + len(names), desc="train_ensemble", disable=not progress
    )
    with bar:
        for k, (train, test) in enumerate(folds):
            fold_of[test] = k
            prior_oof[test] = class_prior(data.y[train])
            for name in names:
                bar.set_postfix_str(f"fold {k} {name}")
                model = model_class(name)(cfg.get(name, {}))
                model.fit(data.X.iloc[train], data.y[train])
                member_oof[name][test] = model.predict_proba(data.X.iloc[test])
                bar.update()
        in_oof = fold_of >= 0
        oof_members = {name: proba[in_oof] for name, proba in member_oof.items()}
        oof_proba = soft_vote(oof_members, weights)
        y_oof = data.y[in_oof]
        fold_oof = fold_of[in_oof]

        method = ens_cfg.get("calibration", "temperature")
        holdout = _calibration_holdout(method, oof_proba, y_oof, fold_oof)
        calibrator = make_calibrator(method).fit(oof_proba, y_oof)

        fitted = {}
        for name in names:
            bar.set_postfix_str(f"refit {name}")
            fitted[name] = model_class(name)(cfg.get(name, {})).fit(data.X, data.y)
            bar.update()

    threshold = float(ens_cfg.get("confidence_threshold", 0.6))
    ensemble = SoftVotingEnsemble(
        fitted, weights, calibrator=calibrator, confidence_threshold=threshold
    )
    calibrated = calibrator.transform(oof_proba)
    keys = data.X.loc[in_oof, list(KEY_COLUMNS)].reset_index(drop=True)
    oof = keys.assign(fold=fold_oof)
    for j, column in enumerate(PROBA_COLUMNS):
        oof[column] = oof_proba[:, j]
    oof["label"] = y_oof
    for j, column in enumerate(PROBA_COLUMNS):
        oof[f"cal_{column}"] = calibrated[:, j]
    for name in names:
        for j, column in enumerate(PROBA_COLUMNS):
            oof[f"{name}_{column}"] = oof_members[name][:, j]

    all_labels = data.X[list(KEY_COLUMNS)].assign(label=data.y, event_end=data.times["event_end"])
    metrics: dict[str, Any] = {
        "n_rows": n_rows,
        "n_oof": int(in_oof.sum()),
        "n_folds": len(folds),
        "dropped": data.dropped,
        "class_counts": dict(
            zip(CLASS_NAMES, np.bincount(data.y, minlength=3).tolist(), strict=True)
        ),
        "ensemble": classification_metrics(oof_proba, y_oof, threshold=threshold),
        "ensemble_calibrated_in_sample": classification_metrics(
            calibrated, y_oof, threshold=threshold
        ),
        "members": {
            name: classification_metrics(proba, y_oof, threshold=threshold)
            for name, proba in oof_members.items()
        },
        "baselines": baseline_metrics(oof, all_labels, prior=prior_oof[in_oof]),
        "calibration_holdout": holdout,
        "calibration": calibrator.to_dict(),
    }
    if oracle is not None:
        metrics["oracle"] = _oracle_metrics(oof, oracle)
    if leakage_check:
        xgb_params = cfg.get("xgboost", {})
        alarm = shuffled_label_alarm(
            data.X,
            data.y,
            cv=splitter,
            groups=groups,
            model_factory=lambda: model_class("xgboost")(xgb_params),
        )
        metrics["shuffled_label_alarm"] = alarm.as_dict()
        if not alarm.passed:
            logger.warning("shuffled-label alarm: %s", alarm)
    logger.info(
        "OOF accuracy %.3f (prior %.3f), ECE %.3f",
        metrics["ensemble"]["accuracy"],
        metrics["baselines"]["class_prior"]["accuracy"],
        metrics["ensemble"]["ece"],
    )
    return TrainedEnsemble(
        ensemble=ensemble,
        oof=oof,
        metrics=metrics,
        feature_names=data.feature_names,
        config=cfg,
    )


def _calibration_holdout(
    method: str, proba: np.ndarray, y: np.ndarray, fold: np.ndarray
) -> dict[str, Any] | None:
    """Fit on all OOF folds but the last, measure on the last (None with one fold)."""
    last = fold.max()
    fit_rows, test_rows = fold < last, fold == last
    if not fit_rows.any():
        return None
    calibrator = make_calibrator(method).fit(proba[fit_rows], y[fit_rows])
    before = classification_metrics(proba[test_rows], y[test_rows])
    after = classification_metrics(calibrator.transform(proba[test_rows]), y[test_rows])
    return {
        "method": method,
        "n_fit": int(fit_rows.sum()),
        "n_test": int(test_rows.sum()),
        "ece_uncalibrated": expected_calibration_error(proba[test_rows], y[test_rows]),
        "ece_calibrated": after["ece"],
        "log_loss_uncalibrated": before["log_loss"],
        "log_loss_calibrated": after["log_loss"],
    }


def _oracle_metrics(oof: pd.DataFrame, oracle: pd.DataFrame) -> dict[str, Any]:
    oracle_keys = with_key_columns(oracle, "oracle", TrainingError)
    merged = oof.merge(
        oracle_keys[[*KEY_COLUMNS, *PROBA_COLUMNS]],
        on=list(KEY_COLUMNS),
        how="inner",
        suffixes=("", "_oracle"),
    )
    if merged.empty:
        raise TrainingError("the oracle shares no (symbol, ts) with the out-of-fold rows.")
    comparison = oracle_comparison(
        merged[list(PROBA_COLUMNS)].to_numpy(),
        merged["label"].to_numpy(),
        merged[[f"{c}_oracle" for c in PROBA_COLUMNS]].to_numpy(),
    )
    return {"n": len(merged), **comparison}
