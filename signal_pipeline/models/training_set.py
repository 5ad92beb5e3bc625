"""The training set: sampled decision points of the feature table joined to their labels.

A 1-minute feature table is far larger than what the models need: triple-barrier labels
with a 15-bar horizon at neighbouring minutes share 14 of their 15 future bars, so they
are near copies. ``build_training_set`` therefore

1. labels **every** bar with :func:`~signal_pipeline.labels.triple_barrier_labels` (the
   volatility and barriers need the full 1-minute path),
2. keeps one decision point every ``sample_every`` minutes of each session (minutes
   since the session's first bar, so every symbol is sampled at the same moments and the
   purged CV sees whole timestamps),
3. keeps the feature columns matched by ``feature_include`` and not by
   ``feature_exclude`` (fnmatch globs; a fixed, label-free choice, so selecting features
   cannot leak labels into the cross-validation),
4. joins labels and features on (symbol, ts).

Settings come from the ``training`` section of ``models.yaml``. The result is one frame:
``symbol, ts``, the feature columns, then ``label, event_end, ret, vol``;
:func:`split_training_set` splits it back into the (features, labels) pair that
:func:`~signal_pipeline.models.train_ensemble` takes.
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.labels import LABEL_COLUMNS, triple_barrier_labels
from signal_pipeline.models.base import KEY_COLUMNS, ModelError, _deep_merge, load_model_config

SESSION_TZ = "America/New_York"
LABEL_ONLY = tuple(c for c in LABEL_COLUMNS if c not in KEY_COLUMNS)
NON_FEATURE_COLUMNS = frozenset({*KEY_COLUMNS, *LABEL_ONLY, "feature_spec_hash", "date"})


class TrainingSetError(ModelError):
    """The feature table or bars cannot make a training set; the message says why."""


def training_config(overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """``models.yaml`` with ``training.overrides`` merged over the member sections, then
    ``overrides`` (the configuration the training assets and the benchmark train with)."""
    base = load_model_config()
    merged = _deep_merge(base, dict(base.get("training", {}).get("overrides") or {}))
    return _deep_merge(merged, overrides or {})


def select_feature_columns(
    columns: Sequence[str],
    include: Sequence[str] | None = None,
    exclude: Sequence[str] | None = None,
) -> list[str]:
    """Feature columns matched by any ``include`` glob (all when None) and no ``exclude``."""
    names = [c for c in columns if c not in NON_FEATURE_COLUMNS]
    if include:
        names = [c for c in names if any(fnmatch.fnmatchcase(c, p) for p in include)]
    if exclude:
        names = [c for c in names if not any(fnmatch.fnmatchcase(c, p) for p in exclude)]
    return names


def session_minute(ts: pd.Series) -> np.ndarray:
    """Minutes since 09:31 New York time (the session's first 1-minute close)."""
    local = ts.dt.tz_convert(SESSION_TZ)
    return ((local.dt.hour * 60 + local.dt.minute) - (9 * 60 + 31)).to_numpy()


def sample_decision_points(frame: pd.DataFrame, every: int) -> pd.DataFrame:
    """Rows whose minute of the session is a multiple of ``every`` (1 keeps all)."""
    if every < 1:
        raise TrainingSetError(f"sample_every={every}: must be a whole number of minutes >= 1.")
    if every == 1:
        return frame.reset_index(drop=True)
    return frame.loc[session_minute(frame["ts"]) % every == 0].reset_index(drop=True)


def build_training_set(
    features: pd.DataFrame,
    bars: pd.DataFrame,
    *,
    config: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Sampled, labelled decision points (see the module docstring).

    ``config`` overrides ``models.yaml`` (``training`` and ``labels`` sections). The
    result's ``attrs`` hold ``feature_spec_hash`` (when ``features`` carries one, as an
    attr or a column) and the counts ``rows_before_sampling`` / ``labels_dropped``.
    """
    cfg = load_model_config(overrides=config)
    settings = dict(cfg.get("training", {}))
    missing = [k for k in KEY_COLUMNS if k not in features.columns]
    if missing:
        raise TrainingSetError(
            f"feature table lacks key column(s) {missing}: it must be keyed (symbol, ts)."
        )
    columns = select_feature_columns(
        list(features.columns), settings.get("feature_include"), settings.get("feature_exclude")
    )
    if not columns:
        raise TrainingSetError(
            "no feature column matches training.feature_include / feature_exclude in "
            f"models.yaml (first columns: {list(features.columns)[:8]}): widen the globs."
        )
    labels = triple_barrier_labels(bars, **dict(cfg.get("labels", {})))
    sampled = sample_decision_points(
        features[[*KEY_COLUMNS, *columns]], int(settings.get("sample_every", 1))
    )
    out = sampled.merge(labels[list(LABEL_COLUMNS)], on=list(KEY_COLUMNS), how="inner")
    if out.empty:
        raise TrainingSetError(
            "no sampled feature row has a label: do the feature table and the bars cover the "
            "same symbols and sessions?"
        )
    out = out.sort_values(list(KEY_COLUMNS), kind="stable").reset_index(drop=True)
    spec_hash = features.attrs.get("feature_spec_hash")
    if spec_hash is None and "feature_spec_hash" in features.columns:
        hashes = features["feature_spec_hash"].dropna().unique()
        if len(hashes) > 1:
            raise TrainingSetError(
                f"the feature table mixes feature-spec hashes {sorted(hashes)[:3]}: recompute "
                "every partition with one spec before training."
            )
        spec_hash = str(hashes[0]) if len(hashes) else None
    out.attrs.update(
        feature_spec_hash=spec_hash,
        rows_before_sampling=len(features),
        labels_dropped=dict(labels.attrs.get("dropped", {})),
    )
    return out


def split_training_set(training_set: pd.DataFrame) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(features keyed (symbol, ts), labels) of a frame from :func:`build_training_set`."""
    missing = [c for c in ("label", "event_end") if c not in training_set.columns]
    if missing:
        raise TrainingSetError(f"training set lacks {missing}: build it with build_training_set.")
    feature_columns = [c for c in training_set.columns if c not in NON_FEATURE_COLUMNS]
    label_columns = [c for c in LABEL_COLUMNS if c in training_set.columns]
    return (
        training_set[[*KEY_COLUMNS, *feature_columns]],
        training_set[label_columns],
    )


def frame_hash(frame: pd.DataFrame) -> str:
    """sha256 of a frame's column names, dtypes and values (row order matters): the
    training-data hash tagged on every MLflow run and model version."""
    digest = hashlib.sha256()
    digest.update(repr([(str(c), str(t)) for c, t in frame.dtypes.items()]).encode())
    digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()
