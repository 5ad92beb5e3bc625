"""Optuna hyper-parameter tuning of one ensemble member over the purged walk-forward CV.

Objective: the member's **out-of-fold log loss** over the folds of
:class:`~signal_pipeline.models.cv.PurgedWalkForward` (the same CV ``train_ensemble``
uses, with the ``tuning.cv`` overrides of ``models.yaml``). After each fold the trial
reports the log loss of the OOF rows seen so far, so Optuna's ``MedianPruner`` can stop a
trial whose first folds are already worse than the median of earlier trials at the same
fold. The sampler is a seeded TPE sampler, so a study with the same data, seed and trial
count proposes the same parameters.

The member's configured parameters (the spec's values) run first as an enqueued trial:
its value is the *default* log loss the tuned one is compared with, and since it is a
candidate itself, the best trial is never worse than the defaults on the objective.

Storage: an RDB URL (``sqlite:///...`` by default, from
``signal_pipeline.settings.get_settings().optuna_storage``; ``postgresql://...`` lets many
workers share one study: run ``tune_member`` with the same ``study_name`` in each), or
``None`` for an in-memory study.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import optuna
import pandas as pd
from sklearn.metrics import log_loss

from signal_pipeline.models.base import ModelError, load_model_config, model_class
from signal_pipeline.models.cv import PurgedWalkForward
from signal_pipeline.models.training import PreparedData, make_cv, prepare_training_data

logger = logging.getLogger(__name__)

_LABELS = [0, 1, 2]
DEFAULTS_ATTR = "spec_defaults"


class TuningError(ModelError):
    """Tuning cannot run as asked (unknown member, no completed trial, bad settings)."""


def _xgboost_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "max_depth": trial.suggest_int("max_depth", 2, 8),
        "learning_rate": trial.suggest_float("learning_rate", 0.01, 0.3, log=True),
        "n_estimators": trial.suggest_int("n_estimators", 50, 200, step=25),
        "subsample": trial.suggest_float("subsample", 0.5, 1.0),
        "colsample_bytree": trial.suggest_float("colsample_bytree", 0.3, 1.0),
    }


def _forest_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "n_estimators": trial.suggest_int("n_estimators", 50, 200, step=25),
        "max_depth": trial.suggest_int("max_depth", 3, 14),
        "min_samples_split": trial.suggest_int("min_samples_split", 2, 50, log=True),
        "min_samples_leaf": trial.suggest_int("min_samples_leaf", 1, 50, log=True),
        "max_features": trial.suggest_categorical("max_features", ["sqrt", "log2", 0.3]),
    }


def _lstm_space(trial: optuna.Trial) -> dict[str, Any]:
    return {
        "hidden_units": trial.suggest_categorical("hidden_units", [16, 32, 64]),
        "dropout_rate": trial.suggest_float("dropout_rate", 0.0, 0.5),
        "learning_rate": trial.suggest_float("learning_rate", 1e-4, 1e-2, log=True),
    }


#: Search space per member: a function of an Optuna trial returning member params.
SEARCH_SPACES: dict[str, Callable[[optuna.Trial], dict[str, Any]]] = {
    "xgboost": _xgboost_space,
    "random_forest": _forest_space,
    "lstm": _lstm_space,
}
#: The parameter names each search space suggests (its defaults run as trial 0).
SEARCHED: dict[str, tuple[str, ...]] = {
    "xgboost": ("max_depth", "learning_rate", "n_estimators", "subsample", "colsample_bytree"),
    "random_forest": (
        "n_estimators",
        "max_depth",
        "min_samples_split",
        "min_samples_leaf",
        "max_features",
    ),
    "lstm": ("hidden_units", "dropout_rate", "learning_rate"),
}
# Defaults for searched params that models.yaml leaves to the library.
_LIBRARY_DEFAULTS: dict[str, dict[str, Any]] = {"random_forest": {"max_features": "sqrt"}}


@dataclass
class TuningResult:
    """Outcome of :func:`tune_member` (``as_dict`` gives plain JSON)."""

    member: str
    best_params: dict[str, Any]
    default_params: dict[str, Any]
    default_log_loss: float
    tuned_log_loss: float
    n_trials: int
    n_complete: int
    n_pruned: int
    study_name: str
    storage: str
    seconds: float
    best_oof: pd.DataFrame | None = field(default=None, repr=False)

    @property
    def improvement(self) -> float:
        """Relative reduction of OOF log loss, ``(default - tuned) / default``."""
        return (self.default_log_loss - self.tuned_log_loss) / self.default_log_loss

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        out.pop("best_oof")
        out["improvement"] = self.improvement
        return out


def redact_url(url: str | None) -> str:
    """The storage URL with any password hidden (safe for logs and metadata)."""
    if not url:
        return "in-memory"
    if "://" not in url or "@" not in url:
        return url
    scheme, rest = url.split("://", 1)
    credentials, host = rest.rsplit("@", 1)
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}" if ":" in credentials else url


def make_storage(url: str | None) -> optuna.storages.BaseStorage | None:
    """Optuna storage for ``url``: an RDB storage (SQLite, PostgreSQL, ...) or None."""
    if not url:
        return None
    if url.startswith("postgres://"):
        url = "postgresql://" + url.removeprefix("postgres://")  # SQLAlchemy's spelling
    try:
        return optuna.storages.RDBStorage(url, heartbeat_interval=None)
    except Exception as exc:  # SQLAlchemy raises many kinds; name the URL and the fix
        raise TuningError(
            f"cannot open Optuna storage {redact_url(url)!r}: {exc}. Use sqlite:///path.db or "
            "postgresql://user@host/db (set SIGNAL_PIPELINE_OPTUNA_STORAGE)."
        ) from exc


def _oof_log_loss(proba: np.ndarray, y: np.ndarray) -> float:
    return float(log_loss(y, np.clip(proba, 1e-15, 1.0), labels=_LABELS))


def cross_validated_proba(
    member: str,
    params: Mapping[str, Any],
    data: PreparedData,
    folds: list[tuple[np.ndarray, np.ndarray]],
    report: Callable[[int, float], None] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """(OOF probabilities, test-row mask) of ``member`` with ``params`` over ``folds``.

    ``report(k, log_loss_so_far)`` runs after fold ``k`` (Optuna's report + prune hook).
    """
    proba = np.full((len(data.y), 3), np.nan)
    seen = np.zeros(len(data.y), dtype=bool)
    cls = model_class(member)
    for k, (train, test) in enumerate(folds):
        model = cls(dict(params)).fit(data.X.iloc[train], data.y[train])
        proba[test] = model.predict_proba(data.X.iloc[test])
        seen[test] = True
        if report is not None:
            report(k, _oof_log_loss(proba[seen], data.y[seen]))
    return proba, seen


def tune_member(
    member: str,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    *,
    config: Mapping[str, Any] | None = None,
    cv: PurgedWalkForward | None = None,
    n_trials: int | None = None,
    timeout_s: float | None = None,
    storage: str | None = None,
    study_name: str | None = None,
    seed: int | None = None,
) -> TuningResult:
    """Tune one member's hyper-parameters on OOF log loss (see the module docstring).

    Args:
        member: ``xgboost``, ``random_forest`` or ``lstm``.
        features, labels: as for :func:`~signal_pipeline.models.train_ensemble`.
        config: overrides deep-merged over ``models.yaml``; the member's section holds the
            fixed params (and the defaults compared against), ``tuning`` the settings.
        cv: a splitter instead of ``cv`` + ``tuning.cv`` from the config.
        n_trials, timeout_s: stop after this many trials of this call, or this many
            seconds (whichever comes first); default ``tuning.n_trials`` /
            ``tuning.timeout_s``.
        storage: Optuna RDB URL; ``None`` = in-memory. A study of the same name in that
            storage is resumed (its spec-defaults trial is reused).
        study_name: default ``signal-<member>``.
        seed: TPE sampler seed (default ``tuning.seed``).
    """
    if member not in SEARCH_SPACES:
        raise TuningError(f"unknown member {member!r}: choose one of {sorted(SEARCH_SPACES)}.")
    cfg = load_model_config(overrides=config)
    tuning = dict(cfg.get("tuning", {}))
    per_member = dict(tuning.get("trials_per_member") or {})
    if n_trials is None:
        n_trials = int(per_member.get(member, tuning.get("n_trials", 10)))
    timeout_s = timeout_s if timeout_s is not None else tuning.get("timeout_s")
    seed = int(seed if seed is not None else tuning.get("seed", 42))
    if n_trials < 1:
        raise TuningError(f"n_trials={n_trials}: tune with at least 1 trial (the defaults).")
    base_params = dict(cfg.get(member, {}))
    base_params.update(dict(tuning.get("fixed", {}).get(member, {}) or {}))
    space = SEARCH_SPACES[member]
    defaults = {**_LIBRARY_DEFAULTS.get(member, {}), **base_params}
    default_searched = {k: defaults[k] for k in SEARCHED[member] if k in defaults}

    data = prepare_training_data(features, labels)
    splitter = cv or make_cv({"cv": {**cfg.get("cv", {}), **(tuning.get("cv") or {})}})
    folds = list(splitter.split(data.X, data.y, data.times))
    name = study_name or f"signal-{member}"
    study = optuna.create_study(
        study_name=name,
        storage=make_storage(storage),
        direction="minimize",
        sampler=optuna.samplers.TPESampler(
            seed=seed, n_startup_trials=int(tuning.get("n_startup_trials", 3))
        ),
        pruner=optuna.pruners.MedianPruner(
            n_startup_trials=int(tuning.get("pruner_startup_trials", 2)), n_warmup_steps=1
        ),
        load_if_exists=True,
    )
    previous = len(study.trials)
    if not any(t.user_attrs.get(DEFAULTS_ATTR) for t in study.trials):
        study.enqueue_trial(default_searched, user_attrs={DEFAULTS_ATTR: True})
    best_oof: dict[str, np.ndarray] = {}

    def objective(trial: optuna.Trial) -> float:
        params = {**base_params, **space(trial)}

        def report(k: int, value: float) -> None:
            trial.report(value, k)
            if trial.should_prune():
                raise optuna.TrialPruned(f"fold {k}: OOF log loss {value:.4f} above the median")

        proba, seen = cross_validated_proba(member, params, data, folds, report)
        value = _oof_log_loss(proba[seen], data.y[seen])
        if not best_oof or value < best_oof["value"][0]:
            best_oof.update(proba=proba, seen=seen, value=np.array([value]))
        return value

    started = time.perf_counter()
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study.optimize(objective, n_trials=n_trials, timeout=timeout_s, gc_after_trial=False)
    seconds = time.perf_counter() - started
    complete = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    if not complete:
        raise TuningError(
            f"study {name!r} has no completed trial (all pruned or failed): raise n_trials "
            "or timeout_s, or check the training data."
        )
    defaults_trial = next(
        (t for t in complete if t.user_attrs.get(DEFAULTS_ATTR)),
        None,
    )
    if defaults_trial is None:
        raise TuningError(
            f"study {name!r}: the spec-defaults trial did not complete (timeout_s={timeout_s} "
            "too short?); give it time for at least one full cross-validation."
        )
    best = study.best_trial
    new_trials = study.trials[previous:]
    result = TuningResult(
        member=member,
        best_params={**base_params, **best.params},
        default_params=base_params,
        default_log_loss=float(defaults_trial.value),
        tuned_log_loss=float(best.value),
        n_trials=len(new_trials),
        n_complete=sum(t.state == optuna.trial.TrialState.COMPLETE for t in new_trials),
        n_pruned=sum(t.state == optuna.trial.TrialState.PRUNED for t in new_trials),
        study_name=name,
        storage=redact_url(storage),
        seconds=seconds,
        best_oof=_oof_frame(data, best_oof) if best_oof else None,
    )
    logger.info(
        "tuned %s: OOF log loss %.4f -> %.4f (%.1f %%) in %d trials (%d pruned), %.0f s",
        member,
        result.default_log_loss,
        result.tuned_log_loss,
        100 * result.improvement,
        result.n_trials,
        result.n_pruned,
        seconds,
    )
    return result


def _oof_frame(data: PreparedData, best: Mapping[str, np.ndarray]) -> pd.DataFrame:
    """The best trial of this call: keys, label and OOF probabilities of its test rows."""
    seen = best["seen"]
    frame = data.X.loc[seen, ["symbol", "ts"]].reset_index(drop=True)
    frame["label"] = data.y[seen]
    for j, column in enumerate(("p_sell", "p_hold", "p_buy")):
        frame[column] = best["proba"][seen, j]
    return frame


def improvement_summary(results: Mapping[str, TuningResult]) -> pd.DataFrame:
    """One row per member: default vs tuned OOF log loss and the relative improvement."""
    rows = [
        {
            "member": name,
            "default_log_loss": r.default_log_loss,
            "tuned_log_loss": r.tuned_log_loss,
            "improvement_pct": 100 * r.improvement,
            "trials": r.n_trials,
            "pruned": r.n_pruned,
            "seconds": round(r.seconds, 1),
        }
        for name, r in results.items()
    ]
    return pd.DataFrame(rows)


def tuned_overrides(results: Mapping[str, TuningResult | Mapping[str, Any]]) -> dict[str, Any]:
    """Config overrides ``{member: best_params}`` from tuning results (objects or dicts),
    to pass as ``train_ensemble(config=...)``."""
    out: dict[str, Any] = {}
    for member, result in results.items():
        params = result.best_params if isinstance(result, TuningResult) else result["best_params"]
        out[member] = dict(params)
    return out
