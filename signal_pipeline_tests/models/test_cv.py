"""PurgedWalkForward: no training label overlaps its test window, for any configuration."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score

from signal_pipeline.models import CVConfigError, PurgedWalkForward

T0 = pd.Timestamp("2024-01-02 14:31", tz="UTC")


@st.composite
def panels(draw: st.DrawFn) -> tuple[pd.DataFrame, PurgedWalkForward]:
    n_times = draw(st.integers(8, 60))
    gaps = draw(st.lists(st.integers(1, 5), min_size=n_times, max_size=n_times))
    times = T0 + pd.to_timedelta(np.cumsum(gaps), unit="min")
    n_symbols = draw(st.integers(1, 3))
    rows = []
    for s in range(n_symbols):
        # Each symbol misses some timestamps, so folds must be cut on time, not row counts.
        keep = draw(st.lists(st.booleans(), min_size=n_times, max_size=n_times))
        keep[0] = True
        rows += [(f"S{s}", t) for t, k in zip(times, keep, strict=True) if k]
    frame = pd.DataFrame(rows, columns=["symbol", "ts"])
    horizons = draw(st.lists(st.integers(0, 20), min_size=len(frame), max_size=len(frame)))
    frame["event_end"] = frame["ts"] + pd.to_timedelta(horizons, unit="min")
    frame = frame.sample(frac=1.0, random_state=draw(st.integers(0, 100))).reset_index(drop=True)
    embargo = draw(st.one_of(st.integers(0, 3), st.sampled_from(["0min", "2min", "7min"])))
    cv = PurgedWalkForward(
        draw(st.integers(1, 4)),
        train=draw(st.sampled_from(["expanding", "rolling"])),
        test_size=draw(st.one_of(st.none(), st.integers(1, 8))),
        max_train_size=draw(st.one_of(st.none(), st.integers(1, 20))),
        embargo=embargo,
    )
    return frame, cv


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(panels())
def test_no_training_label_overlaps_its_test_window(
    case: tuple[pd.DataFrame, PurgedWalkForward],
) -> None:
    frame, cv = case
    try:
        folds = list(cv.split(frame))
    except CVConfigError:
        return  # a configuration the data cannot hold is refused, never silently bent
    assert len(folds) == cv.get_n_splits()
    times = np.sort(frame["ts"].unique())
    ts, end = frame["ts"], frame["event_end"]
    previous_test_start = None
    seen_test: set[int] = set()
    for train, test in folds:
        test_start, test_end = ts[test].min(), end[test].max()
        # The test window is a block of consecutive distinct timestamps, all symbols in it.
        block = times[(times >= test_start) & (times <= ts[test].max())]
        assert set(ts[test]) == set(block)
        assert set(np.flatnonzero(ts.isin(block))) == set(test)
        # Purging: no training interval [ts, event_end] meets [test_start, test_end].
        assert not ((ts[train] <= test_end) & (end[train] >= test_start)).any()
        # Walk-forward and embargo: training labels end before the test window minus the gap.
        assert (ts[train] < test_start).all()
        if isinstance(cv.embargo, str):
            cutoff = test_start - pd.Timedelta(cv.embargo)
        else:
            first = int(np.searchsorted(times, test_start))
            cutoff = times[first - cv.embargo] if first >= cv.embargo else times[0]
        assert (end[train] < cutoff).all()
        # Nothing eligible is purged needlessly (expanding keeps every clean earlier row).
        if cv.train == "expanding":
            eligible = np.flatnonzero((ts < test_start) & (end < cutoff))
            assert set(train) == set(eligible)
        assert not seen_test & set(test)
        seen_test |= set(test)
        if previous_test_start is not None:
            assert test_start > previous_test_start
        previous_test_start = test_start


def _panel(n_times: int = 100, n_symbols: int = 2, horizon: str = "5min") -> pd.DataFrame:
    ts = pd.date_range(T0, periods=n_times, freq="min")
    frame = pd.DataFrame(
        {
            "symbol": np.repeat([f"S{i}" for i in range(n_symbols)], n_times),
            "ts": np.tile(ts, n_symbols),
        }
    )
    frame["event_end"] = frame["ts"] + pd.Timedelta(horizon)
    return frame


def test_rolling_window_keeps_only_the_latest_timestamps() -> None:
    frame = _panel()
    cv = PurgedWalkForward(3, train="rolling", test_size=20, max_train_size=15, embargo=0)
    for train, test in cv.split(frame):
        start = frame["ts"][test].min()
        # 15 timestamps before the test window, minus the 5 whose labels run into it.
        assert frame["ts"][train].nunique() == 10
        assert frame["ts"][train].min() == start - pd.Timedelta("15min")


def test_default_sizes_split_time_into_equal_blocks() -> None:
    frame = _panel(n_times=60)
    folds = list(PurgedWalkForward(5).split(frame))
    assert [frame["ts"][test].nunique() for _, test in folds] == [10] * 5
    assert frame["ts"][folds[0][1]].min() == T0 + pd.Timedelta("10min")


def test_label_times_can_come_from_groups_or_the_constructor() -> None:
    frame = _panel()
    X = frame[["symbol"]].assign(x=np.arange(len(frame)))
    from_groups = list(PurgedWalkForward(3).split(X, groups=frame[["ts", "event_end"]]))
    from_init = list(PurgedWalkForward(3, ts=frame["ts"], event_end=frame["event_end"]).split(X))
    for (a_train, a_test), (b_train, b_test) in zip(from_groups, from_init, strict=True):
        np.testing.assert_array_equal(a_train, b_train)
        np.testing.assert_array_equal(a_test, b_test)


def test_works_inside_scikit_learn_cross_validation() -> None:
    frame = _panel()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(len(frame), 2))
    y = (X[:, 0] > 0).astype(int)
    scores = cross_val_score(
        LogisticRegression(),
        X,
        y,
        cv=PurgedWalkForward(4, embargo="5min"),
        groups=frame[["ts", "event_end"]],
    )
    assert len(scores) == 4
    assert (scores > 0.9).all()  # the label is a function of a feature: CV must see that


def test_missing_label_times_are_explained() -> None:
    with pytest.raises(CVConfigError, match="event_end"):
        list(PurgedWalkForward(3).split(np.zeros((10, 2))))


def test_an_embargo_that_leaves_no_training_rows_is_refused() -> None:
    with pytest.raises(CVConfigError, match="fold 0"):
        list(PurgedWalkForward(3, embargo="1h").split(_panel()))


def test_too_many_splits_for_the_data_is_refused() -> None:
    with pytest.raises(CVConfigError, match="distinct timestamps"):
        list(PurgedWalkForward(4, test_size=30).split(_panel(n_times=100)))
