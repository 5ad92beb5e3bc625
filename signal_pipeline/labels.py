"""Triple-barrier labels: SELL / HOLD / BUY from the first barrier a price path touches.

Method after M. López de Prado, *Advances in Financial Machine Learning* (2018), ch. 3.
For each bar ``t`` of a symbol, with close ``c_t`` and rolling volatility ``σ_t``:

- ``σ_t`` is the sample standard deviation of the last ``vol_window`` 1-minute log returns
  ``ln(c_i / c_{i-1})`` up to and including ``t`` (known at ``t``). The overnight return
  from one session's last close to the next session's first close is left out, so the
  gap does not inflate an intraday volatility.
- The horizontal barriers sit at log returns ``+pt_mult · σ_t · √horizon`` (profit-take)
  and ``-sl_mult · σ_t · √horizon`` (stop-loss): multiples of the volatility expected over
  the horizon, so ``pt_mult = 1`` is a one-sigma move over ``horizon`` minutes.
- The vertical barrier is the ``horizon``-th bar after ``t``.

The path is the closes of bars ``t+1 … t+horizon``. The first close at or beyond the upper
barrier gives **BUY** (2), at or beyond the lower barrier **SELL** (0); if neither is touched
by the vertical barrier the label is **HOLD** (1) whatever the sign of the return there
(the move was too small to trade). ``event_end`` is the ``ts`` of the touching bar (or of the
vertical barrier) and is what purged cross-validation needs; ``ret`` is the log return from
``c_t`` to the close at ``event_end``.

Rows that cannot be labelled are left out of the result and counted in
``result.attrs["dropped"]``: bars whose volatility is not yet known (fewer than
``min_periods`` returns) or is zero, and bars whose full horizon is not available. With
``cross_sessions=False`` (the default) a horizon never runs into the next session, so the
last ``horizon`` bars of each session are not labelled; a session is a calendar date in
America/New_York.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

SELL, HOLD, BUY = 0, 1, 2
CLASS_NAMES: tuple[str, str, str] = ("SELL", "HOLD", "BUY")
SESSION_TZ = "America/New_York"
_CHUNK_ROWS = 200_000
LABEL_COLUMNS: tuple[str, ...] = ("symbol", "ts", "label", "event_end", "ret", "vol")


class LabelError(ValueError):
    """Bad input or parameters for labelling; the message names the input and the fix."""


def _check_inputs(
    bars: pd.DataFrame, horizon: int, pt_mult: float, sl_mult: float, vol_window: int
) -> None:
    missing = [c for c in ("symbol", "ts", "close") if c not in bars.columns]
    if missing:
        raise LabelError(
            f"bars lack column(s) {missing}: triple_barrier_labels needs 'symbol', 'ts' and "
            "'close' (the bar contract of docs/data.md)."
        )
    if not isinstance(horizon, int | np.integer) or horizon < 1:
        raise LabelError(f"horizon={horizon!r}: must be a positive whole number of bars.")
    for name, value in (("pt_mult", pt_mult), ("sl_mult", sl_mult)):
        if not (math.isfinite(value) and value > 0):
            raise LabelError(f"{name}={value!r}: barrier multiples must be finite and > 0.")
    if not isinstance(vol_window, int | np.integer) or vol_window < 2:
        raise LabelError(f"vol_window={vol_window!r}: needs at least 2 returns for a std.")
    if not isinstance(bars["ts"].dtype, pd.DatetimeTZDtype):
        raise LabelError(
            f"bars['ts'] has dtype {bars['ts'].dtype}: it must be timezone-aware UTC "
            "(datetime64[ns, UTC]); convert with pd.to_datetime(..., utc=True)."
        )
    closes = bars["close"].to_numpy(dtype=float)
    if not np.all(np.isfinite(closes) & (closes > 0)):
        bad = np.flatnonzero(~(np.isfinite(closes) & (closes > 0)))[:5].tolist()
        raise LabelError(
            f"bars rows {bad} have a non-positive or non-finite close: validate bars with "
            "signal_pipeline.data.validate_bars before labelling."
        )
    keys = bars[["symbol", "ts"]]
    if keys.duplicated().any():
        raise LabelError("bars have duplicate (symbol, ts) keys: keys must be unique.")


def _first_touch(hit: np.ndarray) -> np.ndarray:
    """Index (0-based step) of the first True per row, or len(row) when none."""
    any_hit = hit.any(axis=1)
    return np.where(any_hit, hit.argmax(axis=1), hit.shape[1])


def _first_barrier(
    fwd: np.ndarray, width_up: np.ndarray, width_dn: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(label, bars to the event, log return at the event) per row of forward log returns
    ``fwd[i, j]`` = return from ``t_i`` to ``t_i + j + 1``."""
    horizon = fwd.shape[1]
    up_step = _first_touch(fwd >= width_up[:, None])
    dn_step = _first_touch(fwd <= -width_dn[:, None])
    label = np.full(len(fwd), HOLD, dtype=np.int64)
    label[up_step < dn_step] = BUY
    label[dn_step < up_step] = SELL  # equal steps only when neither was touched
    step = np.minimum(np.minimum(up_step, dn_step), horizon - 1)
    return label, step + 1, fwd[np.arange(len(fwd)), step]


def triple_barrier_labels(
    bars: pd.DataFrame,
    *,
    horizon: int = 15,
    pt_mult: float = 1.0,
    sl_mult: float = 1.0,
    vol_window: int = 60,
    min_periods: int | None = None,
    cross_sessions: bool = False,
) -> pd.DataFrame:
    """Triple-barrier labels per bar and symbol (see the module docstring for the method).

    Args:
        bars: bars of the bar contract (``symbol``, ``ts`` UTC close stamp, ``close``, ...).
        horizon: vertical barrier, in bars after ``t``.
        pt_mult: profit-take barrier in units of ``σ_t · √horizon``.
        sl_mult: stop-loss barrier in units of ``σ_t · √horizon``.
        vol_window: number of 1-minute log returns in the rolling volatility.
        min_periods: returns needed before ``σ_t`` counts as known (default ``vol_window``).
        cross_sessions: let a horizon run into the next session (default: never).

    Returns:
        DataFrame sorted by (symbol, ts) with ``symbol, ts, label`` (0 SELL / 1 HOLD /
        2 BUY), ``event_end`` (ts of the barrier touch or the vertical barrier), ``ret``
        (log return to ``event_end``) and ``vol`` (``σ_t``). ``attrs["dropped"]`` counts the bars left unlabelled by
        reason, ``attrs["params"]`` records the parameters.
    """
    _check_inputs(bars, horizon, pt_mult, sl_mult, vol_window)
    min_periods = vol_window if min_periods is None else min_periods
    if not 2 <= min_periods <= vol_window:
        raise LabelError(f"min_periods={min_periods}: must lie in [2, vol_window={vol_window}].")

    frame = bars[["symbol", "ts", "close"]].sort_values(["symbol", "ts"], kind="stable")
    frame = frame.reset_index(drop=True)
    log_close = np.log(frame["close"].to_numpy(dtype=float))
    session = frame["ts"].dt.tz_convert(SESSION_TZ).dt.normalize()
    new_symbol = frame["symbol"].ne(frame["symbol"].shift())
    new_session = new_symbol | session.ne(session.shift())
    log_ret = pd.Series(np.diff(log_close, prepend=np.nan))
    # The first bar of a symbol has no return; the first of a session has only the overnight
    # gap, which is a different process from the intraday returns the barriers are about.
    log_ret[new_session.to_numpy()] = np.nan
    # Roll over the intraday returns only, so a window spans sessions without the gap; the
    # first bar of a session (no intraday return yet) keeps the last volatility known.
    known_ret = log_ret.notna().to_numpy()
    symbols = frame["symbol"].to_numpy()
    rolled = (
        log_ret[known_ret]
        .groupby(symbols[known_ret], sort=False)
        .rolling(vol_window, min_periods=min_periods)
        .std()
        .reset_index(level=0, drop=True)
    )
    vol = rolled.reindex(frame.index).groupby(symbols, sort=False).ffill().to_numpy(dtype=float)
    scale = math.sqrt(horizon)
    width_up = pt_mult * vol * scale
    width_dn = sl_mult * vol * scale

    block_start = np.flatnonzero((new_symbol if cross_sessions else new_session).to_numpy())
    block_len = np.diff(np.r_[block_start, len(frame)])
    block_end = np.repeat(block_start + block_len, block_len)  # per row: its block's end
    has_horizon = np.arange(len(frame)) + horizon < block_end
    vol_known = np.isfinite(vol) & (vol > 0)
    rows = np.flatnonzero(has_horizon & vol_known)

    label = np.empty(len(rows), dtype=np.int64)
    offset = np.empty(len(rows), dtype=np.int64)
    ret = np.empty(len(rows), dtype=np.float64)
    for lo in range(0, len(rows), _CHUNK_ROWS):  # bounded memory: chunk × horizon floats
        part = rows[lo : lo + _CHUNK_ROWS]
        fwd = log_close[part[:, None] + np.arange(1, horizon + 1)] - log_close[part, None]
        label[lo : lo + len(part)], offset[lo : lo + len(part)], ret[lo : lo + len(part)] = (
            _first_barrier(fwd, width_up[part], width_dn[part])
        )

    ts = frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None).to_numpy()
    out = pd.DataFrame(
        {
            "symbol": frame["symbol"].to_numpy()[rows],
            "ts": ts[rows],
            "label": label,
            "event_end": ts[rows + offset],
            "ret": ret,
            "vol": vol[rows],
        }
    )
    for column in ("ts", "event_end"):
        out[column] = out[column].dt.tz_localize("UTC").dt.tz_convert(bars["ts"].dt.tz)
    out.attrs["dropped"] = {
        "no_full_horizon": int((~has_horizon).sum()),
        "volatility_unknown_or_zero": int((has_horizon & ~vol_known).sum()),
    }
    out.attrs["params"] = {
        "horizon": int(horizon),
        "pt_mult": float(pt_mult),
        "sl_mult": float(sl_mult),
        "vol_window": int(vol_window),
        "min_periods": int(min_periods),
        "cross_sessions": bool(cross_sessions),
    }
    return out
