"""Purged walk-forward cross-validation for labels that span time.

A triple-barrier label at ``ts`` is only known at its ``event_end``, so a training row
whose label interval ``[ts, event_end]`` reaches into a test window has seen part of the
test period's prices: plain time-series splits leak. ``PurgedWalkForward`` follows
M. López de Prado, *Advances in Financial Machine Learning* (2018), ch. 7:

- Time is cut on the **distinct timestamps** of the rows, so every symbol of a panel sits
  in the same fold at the same moment. The last ``n_splits × test_size`` timestamps form
  ``n_splits`` consecutive test windows; each is trained on rows *before* it only
  (walk-forward), either all of them (``train="expanding"``) or the latest
  ``max_train_size`` timestamps (``train="rolling"``).
- **Purging**: a training row is removed when ``[ts, event_end]`` overlaps the test window
  ``[first test ts, last test event_end]``.
- **Embargo**: López de Prado's embargo drops training rows right *after* a test window,
  whose features were formed while the test labels were still running. Walk-forward never
  trains after its test window, so here the embargo is the matching gap on the only side
  that exists: a training row's label must end more than ``embargo`` before the test
  window starts (``event_end < first test ts − embargo``). This also keeps rows whose
  slowly-moving features are nearly copies of the first test rows out of training.
  ``embargo`` is a time span (``"30min"``, ``pd.Timedelta``) or a whole number of
  distinct timestamps.

Label times. ``split`` needs each row's ``ts`` and ``event_end``. They are taken, in this
order, from ``groups`` (a DataFrame with columns ``ts`` and ``event_end``, which is how
scikit-learn's ``cross_validate(..., groups=...)`` passes them through), from the
constructor (``ts=``, ``event_end=``), or from ``X`` itself (``ts`` as a column or index
level and an ``event_end`` column).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.model_selection import BaseCrossValidator


class CVConfigError(ValueError):
    """The splitter's settings or label times do not fit the data; the message says why."""


def _as_ns(values: Any, name: str) -> np.ndarray:
    try:
        series = values if isinstance(values, pd.Series) else pd.Series(values)
        stamps = pd.to_datetime(series, utc=True)
    except (TypeError, ValueError) as exc:
        raise CVConfigError(f"{name} cannot be read as timestamps: {exc}") from exc
    if stamps.isna().any():
        raise CVConfigError(f"{name} contains missing timestamps: every row needs one.")
    return np.asarray(stamps.dt.as_unit("ns").array.asi8, dtype=np.int64)


class PurgedWalkForward(BaseCrossValidator):
    """Walk-forward splits with purging and an embargo (see the module docstring).

    Args:
        n_splits: number of test windows.
        train: ``"expanding"`` (all earlier rows) or ``"rolling"`` (the latest
            ``max_train_size`` timestamps before each test window).
        min_train_size: distinct timestamps before the first test window; default: what
            is left after the test windows.
        max_train_size: rolling window length in distinct timestamps (default
            ``min_train_size``); ignored for ``"expanding"``.
        test_size: distinct timestamps per test window; default
            ``n_timestamps // (n_splits + 1)``, or what ``min_train_size`` leaves.
        embargo: gap between a training label's end and the test window.
        ts, event_end: per-row label times, when not passed through ``groups`` or ``X``.
    """

    def __init__(
        self,
        n_splits: int = 5,
        *,
        train: Literal["expanding", "rolling"] = "expanding",
        min_train_size: int | None = None,
        max_train_size: int | None = None,
        test_size: int | None = None,
        embargo: int | str | pd.Timedelta = 0,
        ts: Any = None,
        event_end: Any = None,
    ) -> None:
        if not isinstance(n_splits, int | np.integer) or n_splits < 1:
            raise CVConfigError(f"n_splits={n_splits!r}: must be a whole number >= 1.")
        if train not in ("expanding", "rolling"):
            raise CVConfigError(f"train={train!r}: choose 'expanding' or 'rolling'.")
        for name, value in (
            ("min_train_size", min_train_size),
            ("max_train_size", max_train_size),
            ("test_size", test_size),
        ):
            if value is not None and (not isinstance(value, int | np.integer) or value < 1):
                raise CVConfigError(f"{name}={value!r}: must be a whole number >= 1 or None.")
        if (ts is None) != (event_end is None):
            raise CVConfigError("pass both ts= and event_end= to the constructor, or neither.")
        self.n_splits = int(n_splits)
        self.train = train
        self.min_train_size = min_train_size
        self.max_train_size = max_train_size
        self.test_size = test_size
        self.embargo = embargo
        self.ts = ts
        self.event_end = event_end

    def __repr__(self) -> str:
        given = "given" if self.ts is not None else "from split"
        return (
            f"PurgedWalkForward(n_splits={self.n_splits}, train={self.train!r}, "
            f"min_train_size={self.min_train_size}, max_train_size={self.max_train_size}, "
            f"test_size={self.test_size}, embargo={self.embargo!r}, label_times={given})"
        )

    def get_n_splits(self, X: Any = None, y: Any = None, groups: Any = None) -> int:
        return self.n_splits

    def _label_times(self, X: Any, groups: Any) -> tuple[np.ndarray, np.ndarray]:
        n = len(X)
        if groups is not None:
            if not (isinstance(groups, pd.DataFrame) and {"ts", "event_end"} <= set(groups)):
                raise CVConfigError(
                    "groups must be a DataFrame with columns 'ts' and 'event_end' (one row "
                    "per row of X) for PurgedWalkForward."
                )
            ts, end = groups["ts"], groups["event_end"]
        elif self.ts is not None:
            ts, end = self.ts, self.event_end
        elif (
            isinstance(X, pd.DataFrame)
            and "event_end" in X.columns
            and ("ts" in X.columns or "ts" in (X.index.names or []))
        ):
            ts = X["ts"] if "ts" in X.columns else X.index.get_level_values("ts")
            end = X["event_end"]
        else:
            raise CVConfigError(
                "PurgedWalkForward needs each row's label times: pass groups=DataFrame(ts, "
                "event_end) to split, ts=/event_end= to the constructor, or an X with 'ts' "
                "and 'event_end'."
            )
        ts_ns = _as_ns(ts, "ts")
        end_ns = _as_ns(end, "event_end")
        if len(ts_ns) != n or len(end_ns) != n:
            raise CVConfigError(
                f"label times have {len(ts_ns)} ts / {len(end_ns)} event_end values for {n} "
                "rows of X: give one of each per row."
            )
        if np.any(end_ns < ts_ns):
            bad = np.flatnonzero(end_ns < ts_ns)[:5].tolist()
            raise CVConfigError(
                f"rows {bad} have event_end before ts: a label ends after it starts."
            )
        return ts_ns, end_ns

    def _sizes(self, n_times: int) -> tuple[int, int]:
        test_size, min_train = self.test_size, self.min_train_size
        if test_size is None:
            if min_train is None:
                test_size = n_times // (self.n_splits + 1)
            else:
                test_size = (n_times - min_train) // self.n_splits
        if min_train is None:
            min_train = n_times - self.n_splits * test_size
        if test_size < 1 or min_train < 1 or min_train + self.n_splits * test_size > n_times:
            raise CVConfigError(
                f"{n_times} distinct timestamps cannot hold a first training window of "
                f"{min_train} and {self.n_splits} test windows of {test_size}: lower n_splits, "
                "test_size or min_train_size, or give more data."
            )
        return int(test_size), int(min_train)

    def split(
        self, X: Any, y: Any = None, groups: Any = None
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Yield ``(train_indices, test_indices)`` per fold, oldest test window first."""
        ts_ns, end_ns = self._label_times(X, groups)
        times = np.unique(ts_ns)
        test_size, min_train = self._sizes(len(times))
        position = np.searchsorted(times, ts_ns)
        window = self.max_train_size or min_train
        for fold in range(self.n_splits):
            first = len(times) - (self.n_splits - fold) * test_size
            is_test = (position >= first) & (position < first + test_size)
            test_start = times[first]
            test_end = end_ns[is_test].max()
            earliest = first - window if self.train == "rolling" else 0
            candidate = (position < first) & (position >= earliest)
            overlaps = (ts_ns <= test_end) & (end_ns >= test_start)
            train = candidate & ~overlaps & (end_ns < self._embargo_cutoff(times, first))
            train_idx = np.flatnonzero(train)
            if train_idx.size == 0:
                raise CVConfigError(
                    f"fold {fold}: no training rows left after purging and the embargo "
                    f"(embargo={self.embargo!r}); lower the embargo or n_splits, or raise "
                    "min_train_size."
                )
            yield train_idx, np.flatnonzero(is_test)

    def _embargo_cutoff(self, times: np.ndarray, first: int) -> int:
        """Training labels must end strictly before this instant (ns)."""
        embargo = self.embargo
        if isinstance(embargo, int | np.integer) and not isinstance(embargo, bool):
            if embargo < 0:
                raise CVConfigError(f"embargo={embargo}: must be >= 0.")
            return int(times[first - embargo]) if first - embargo >= 0 else int(times[0])
        try:
            gap = pd.Timedelta(embargo)
        except (TypeError, ValueError) as exc:
            raise CVConfigError(
                f"embargo={embargo!r}: give a time span such as '30min' or a whole number of "
                "timestamps."
            ) from exc
        if gap < pd.Timedelta(0):
            raise CVConfigError(f"embargo={embargo!r}: must not be negative.")
        return int(times[first]) - int(gap.value)

    def _iter_test_indices(
        self, X: Any = None, y: Any = None, groups: Any = None
    ) -> Iterator[np.ndarray]:
        for _, test in self.split(X, y, groups):
            yield test

    def fold_labels(self, X: Any, y: Any = None, groups: Any = None) -> np.ndarray:
        """Test fold number of each row, -1 for rows in no test window."""
        fold = np.full(len(X), -1, dtype=np.int64)
        for k, (_, test) in enumerate(self.split(X, y, groups)):
            fold[test] = k
        return fold
