"""Laying the simulator's ``(n_series, n_bars)`` arrays out as contract frames: the
session's bar-close stamps in UTC, and long frames sorted by (symbol, ts)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.data.contracts import OPTION_COLUMNS, OPTIONAL_OPTION_COLUMNS
from signal_pipeline.data.sim_paths import BARS_PER_DAY, Oracle

SESSION_TZ = "America/New_York"


def bar_close_stamps(trading_days: pd.DatetimeIndex) -> np.ndarray:
    """UTC nanoseconds of every bar close: 09:31 .. 16:00 ET on each day (DST-aware)."""
    minutes = np.arange(1, BARS_PER_DAY + 1).astype("timedelta64[m]")
    local = (
        trading_days.normalize().values[:, None]
        + np.timedelta64(9 * 60 + 30, "m")
        + minutes[None, :]
    ).ravel()
    utc = pd.DatetimeIndex(local).tz_localize(SESSION_TZ).tz_convert("UTC")
    return utc.asi8.copy()


def session_bounds(date: Any) -> tuple[pd.Timestamp, pd.Timestamp]:
    """The UTC moments of 09:30 and 16:00 ET on ``date``."""
    opens = pd.Timestamp(f"{date} 09:30", tz=SESSION_TZ).tz_convert("UTC")
    closes = pd.Timestamp(f"{date} 16:00", tz=SESSION_TZ).tz_convert("UTC")
    return opens, closes


def utc_index(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(np.asarray(ns, dtype=np.int64).view("M8[ns]")).tz_localize("UTC")


def long_frame(
    names: list[str], stamps: np.ndarray, arrays: dict[str, np.ndarray], columns: list[str]
) -> pd.DataFrame:
    """``symbol, ts`` then ``columns``, one row per (series, bar), series-major."""
    data: dict[str, Any] = {
        "symbol": np.repeat(np.array(names, dtype=object), len(stamps)),
        "ts": utc_index(np.tile(stamps, len(names))),
    }
    data.update({c: arrays[c].ravel() for c in columns})
    # copy=False keeps one block per column instead of stacking them into a 2-D copy;
    # the arrays are fresh, owned by this frame alone.
    return pd.DataFrame(data, copy=False)


def bars_frame(names: list[str], stamps: np.ndarray, arrays: dict[str, np.ndarray]) -> pd.DataFrame:
    columns = ["open", "high", "low", "close", "volume", "vwap", "trades", "bid", "ask"]
    return long_frame(names, stamps, arrays, columns)


def quotes_frame(
    names: list[str], stamps: np.ndarray, arrays: dict[str, np.ndarray]
) -> pd.DataFrame:
    # Own copies of bid/ask: the bars frame holds the originals, and frames must not
    # alias each other's memory.
    own = {
        "bid": arrays["bid"].copy(),
        "ask": arrays["ask"].copy(),
        "bid_size": arrays["bid_size"],
        "ask_size": arrays["ask_size"],
    }
    return long_frame(names, stamps, own, ["bid", "ask", "bid_size", "ask_size"])


def oracle_frame(
    names: list[str], stamps: np.ndarray, oracle: Oracle, horizon: int
) -> pd.DataFrame:
    arrays = {
        "p_sell": oracle.p_sell,
        "p_hold": oracle.p_hold,
        "p_buy": oracle.p_buy,
        "expected_return": oracle.expected_return,
        "return_sd": oracle.return_sd,
        "threshold": oracle.threshold,
        "forward_return": oracle.forward_return,
    }
    df = long_frame(names, stamps, arrays, ["p_sell", "p_hold", "p_buy"])
    label = oracle.label.ravel()
    df["label"] = pd.arrays.IntegerArray(label, label < 0)
    df["horizon"] = np.int16(horizon)
    for c in ("expected_return", "return_sd", "threshold", "forward_return"):
        df[c] = arrays[c].ravel()
    return df


# the simulator knows the true IV, so its chains carry the optional column too
CHAIN_COLUMNS: list[str] = [*OPTION_COLUMNS, *OPTIONAL_OPTION_COLUMNS]


def chains_frame(parts: list[dict[str, np.ndarray]]) -> pd.DataFrame:
    """Concatenate per-symbol chain columns (already in key order) into one frame."""
    data: dict[str, Any] = {}
    for c in CHAIN_COLUMNS:
        values = [p[c] for p in parts]
        if c in ("symbol", "option_type"):
            data[c] = np.concatenate(values).astype(object) if values else np.array([], object)
        elif c in ("ts", "expiry"):
            data[c] = utc_index(np.concatenate(values) if values else np.array([], np.int64))
        else:
            data[c] = np.concatenate(values).astype(np.float64) if values else np.array([])
    return pd.DataFrame(data, copy=False)
