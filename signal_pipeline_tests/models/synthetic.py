"""Small deterministic market with a planted, learnable signal, for the model tests.

Each symbol's 1-minute log return is ``drift · s_{t-1} + noise`` where ``s`` is an AR(1)
factor. The feature ``signal_1_1m`` is ``s_t`` plus noise, known at ``t`` and predictive of
the next returns; ``noise_a_1m`` and ``noise_b_1m`` are pure noise.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

WARMUP_ROWS = 40


def session_stamps(days: int, start: str = "2024-01-02") -> pd.DatetimeIndex:
    """UTC close stamps of ``days`` weekday sessions, 09:31–16:00 New York time."""
    stamps = []
    for day in pd.bdate_range(start, periods=days):
        open_ = pd.Timestamp(day).tz_localize("America/New_York") + pd.Timedelta("9h31min")
        stamps.append(pd.date_range(open_, periods=390, freq="min").tz_convert("UTC"))
    return stamps[0].append(stamps[1:]) if len(stamps) > 1 else stamps[0]


def planted_market(
    symbols: tuple[str, ...] = ("AAA", "BBB"),
    days: int = 3,
    seed: int = 7,
    drift: float = 4e-4,
    noise: float = 1e-3,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(bars, features) for the symbols; features carry the planted signal."""
    rng = np.random.default_rng(seed)
    ts = session_stamps(days)
    bars, features = [], []
    for symbol in symbols:
        n = len(ts)
        factor = np.zeros(n)
        shocks = rng.normal(size=n)
        for i in range(1, n):
            factor[i] = 0.97 * factor[i - 1] + np.sqrt(1 - 0.97**2) * shocks[i]
        ret = np.r_[0.0, drift * factor[:-1]] + rng.normal(0, noise, n)
        close = 100 * np.exp(np.cumsum(ret))
        bars.append(
            pd.DataFrame(
                {
                    "symbol": symbol,
                    "ts": ts,
                    "open": close,
                    "high": close,
                    "low": close,
                    "close": close,
                    "volume": 1000.0,
                }
            )
        )
        feature = pd.DataFrame(
            {
                "symbol": symbol,
                "ts": ts,
                "signal_1_1m": factor + rng.normal(0, 0.3, n),
                "noise_a_1m": rng.normal(size=n),
                "noise_b_1m": rng.normal(size=n),
            }
        )
        feature.loc[: WARMUP_ROWS - 1, "noise_a_1m"] = np.nan  # a warm-up, as indicators have
        features.append(feature)
    return pd.concat(bars, ignore_index=True), pd.concat(features, ignore_index=True)
