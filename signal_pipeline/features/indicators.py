"""Technical indicators: a registry of small pure functions over OHLCV arrays.

TA-Lib (https://ta-lib.org, the C library behind ``import talib``) is the engine; each
entry names the TA-Lib function it calls. Every output is made scale-free so one model
serves every symbol: price levels become the distance of the close to the level in
percent of the close, ``100 * (close - level) / close``; price differences (MACD, APO,
MOM, ATR, slopes) are divided by the close; volume levels are divided by an average
volume. Oscillators already on a fixed scale (RSI, Stochastic, %R, CCI, ADX...) are
kept as TA-Lib returns them.

Each indicator declares its ``memory``: how many trailing bars of history make the
value at the last bar equal (to ~1e-14 relative) to the value computed on the whole
history. Finite-window indicators need their window; recursive ones (EMA, Wilder
smoothing, KAMA, the Hilbert transform) need enough bars for the start-up state to
decay below double precision. The online engine computes each indicator on exactly
that trailing window, which is why online and batch values agree.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from types import SimpleNamespace

import numpy as np
import talib

from signal_pipeline.features.indicator_registry import (
    REGISTRY,
    Indicator,
    Ohlcv,
    _dist,
    _ema_mem,
    _lags_ok,
    _per_close,
    _periods_ok,
    _ratio,
    _wilder_mem,
    compute_indicator,
    decay_bars,
    output_columns,
    reference_walk,
    register,
    stem,
    warmup_bars,
)

__all__ = [
    "REGISTRY",
    "Indicator",
    "Ohlcv",
    "compute_indicator",
    "decay_bars",
    "output_columns",
    "reference_walk",
    "stem",
    "warmup_bars",
]

# TA-Lib's functions without the Python wrapper that checks every argument for pandas or
# polars series (~1.5 us a call; the online engine makes ~100 calls a bar). Inputs here
# are always contiguous float64 numpy arrays, which the wrapped functions need.
ta = SimpleNamespace(
    **{
        name: getattr(getattr(talib, name), "__wrapped__", getattr(talib, name))
        for name in talib.get_functions()
    }
)

# Hilbert-transform indicators (Ehlers) are non-linear recursive filters; measured on a
# random walk, the start-up difference shrinks ~1000x per 100 bars: 1e-10 at 500 bars,
# below 1e-13 at 650 (tested in test_indicators.py::test_memory_is_enough).
_HT_MEMORY = 650


# ----------------------------------------------------------------------------- trend
def _ma(name: str, fn: Callable[..., np.ndarray], mem: Callable[[int], int], desc: str) -> None:
    @register(name, "trend", {"period": 20}, lambda period: mem(period),
              f"TA-Lib {fn.__name__}", desc, _periods_ok)  # fmt: skip
    def compute(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
        return {stem(name, period): _dist(fn(b.close, timeperiod=period), b.close)}


_ma("sma", ta.SMA, lambda p: p, "simple moving average; % distance of close")
_ma("ema", ta.EMA, _ema_mem, "exponential moving average (SMA seed); % distance of close")
_ma("wma", ta.WMA, lambda p: p, "linearly weighted moving average; % distance of close")
_ma("dema", ta.DEMA, lambda p: _ema_mem(p, 2), "double EMA (Mulloy 1994); % distance")
_ma("tema", ta.TEMA, lambda p: _ema_mem(p, 3), "triple EMA (Mulloy 1994); % distance")
_ma("trima", ta.TRIMA, lambda p: p, "triangular moving average; % distance of close")
# KAMA's smoothing constant can fall to (2/31)^2: the slowest decay of the set.
_ma("kama", ta.KAMA, lambda p: p + decay_bars((2.0 / 31.0) ** 2),
    "Kaufman adaptive moving average; % distance of close")  # fmt: skip
_ma("midpoint", ta.MIDPOINT, lambda p: p, "(highest close + lowest close)/2; % distance")
_ma("linearreg", ta.LINEARREG, lambda p: p, "least-squares line end value; % distance")
_ma("linearreg_intercept", ta.LINEARREG_INTERCEPT, lambda p: p,
    "least-squares line intercept; % distance")  # fmt: skip
_ma("tsf", ta.TSF, lambda p: p, "time series forecast (line extrapolated 1 bar); % distance")


@register("t3", "trend", {"period": 5, "vfactor": 0.7}, lambda period, vfactor: _ema_mem(period, 6),
          "TA-Lib T3 (Tillson 1998)", "six chained EMAs; % distance of close", _periods_ok)  # fmt: skip
def _t3(b: Ohlcv, period: int, vfactor: float) -> dict[str, np.ndarray]:
    return {stem("t3", period, vfactor): _dist(ta.T3(b.close, period, vfactor), b.close)}


@register("mama", "trend", {"fastlimit": 0.5, "slowlimit": 0.05},
          lambda fastlimit, slowlimit: 200 + decay_bars(slowlimit / 2),
          "TA-Lib MAMA (Ehlers 2001)", "MESA adaptive MA and following AMA; % distance")  # fmt: skip
def _mama(b: Ohlcv, fastlimit: float, slowlimit: float) -> dict[str, np.ndarray]:
    mama, fama = ta.MAMA(b.close, fastlimit, slowlimit)
    return {
        stem("mama", fastlimit, slowlimit): _dist(mama, b.close),
        stem("fama", fastlimit, slowlimit): _dist(fama, b.close),
    }


@register("bbands", "volatility", {"period": 20, "nbdev": 2.0}, lambda period, nbdev: period,
          "TA-Lib BBANDS (Bollinger 2001)", "%B position in the bands and band width % of middle",
          _periods_ok)  # fmt: skip
def _bbands(b: Ohlcv, period: int, nbdev: float) -> dict[str, np.ndarray]:
    upper, middle, lower = ta.BBANDS(b.close, period, nbdev, nbdev, 0)
    width = upper - lower
    return {
        stem("bb_pctb", period, nbdev): _ratio(b.close - lower, width, 0.5),
        stem("bb_width", period, nbdev): 100.0 * width / middle,
    }


@register("midprice", "trend", {"period": 14}, lambda period: period, "TA-Lib MIDPRICE",
          "(highest high + lowest low)/2; % distance of close", _periods_ok)  # fmt: skip
def _midprice(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    return {stem("midprice", period): _dist(ta.MIDPRICE(b.high, b.low, period), b.close)}


@register("sar", "trend", {"acceleration": 0.02, "maximum": 0.2},
          lambda acceleration, maximum: 2000, "TA-Lib SAR (Wilder 1978)",
          "parabolic stop-and-reverse; % distance of close")  # fmt: skip
def _sar(b: Ohlcv, acceleration: float, maximum: float) -> dict[str, np.ndarray]:
    return {stem("sar", acceleration, maximum): _dist(
        ta.SAR(b.high, b.low, acceleration, maximum), b.close)}  # fmt: skip


@register("ht_trendline", "cycle", {}, lambda: 400, "TA-Lib HT_TRENDLINE (Ehlers)",
          "Hilbert transform instantaneous trendline; % distance of close")  # fmt: skip
def _ht_trendline(b: Ohlcv) -> dict[str, np.ndarray]:
    return {"ht_trendline": _dist(ta.HT_TRENDLINE(b.close), b.close)}


@register("linearreg_slope", "trend", {"period": 14}, lambda period: period,
          "TA-Lib LINEARREG_SLOPE", "least-squares slope per bar, % of close", _periods_ok)  # fmt: skip
def _lr_slope(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    return {stem("linearreg_slope", period): _per_close(
        ta.LINEARREG_SLOPE(b.close, period), b.close)}  # fmt: skip


# -------------------------------------------------------------------------- momentum
@register("rsi", "momentum", {"period": 14, "overbought": 70.0, "oversold": 30.0},
          lambda period, overbought, oversold: _wilder_mem(period),
          "TA-Lib RSI (Wilder 1978)", "relative strength index 0..100, plus 0/1 zone flags",
          _periods_ok)  # fmt: skip
def _rsi(b: Ohlcv, period: int, overbought: float, oversold: float) -> dict[str, np.ndarray]:
    rsi = ta.RSI(b.close, period)
    warm = np.isnan(rsi)
    over = np.where(warm, np.nan, (rsi >= overbought).astype(np.float64))
    under = np.where(warm, np.nan, (rsi <= oversold).astype(np.float64))
    return {
        stem("rsi", period): rsi,
        stem("rsi_ob", period, overbought): over,
        stem("rsi_os", period, oversold): under,
    }


@register("macd", "momentum", {"fast": 12, "slow": 26, "signal": 9},
          lambda fast, slow, signal: _ema_mem(slow, 2) + signal,
          "TA-Lib MACD (Appel 1979)", "MACD line, signal and histogram, % of close",
          lambda fast, slow, signal: _periods_ok(fast=fast, slow=slow, signal=signal)
          or (None if fast < slow else f"fast ({fast}) must be < slow ({slow})"))  # fmt: skip
def _macd(b: Ohlcv, fast: int, slow: int, signal: int) -> dict[str, np.ndarray]:
    line, sig, hist = ta.MACD(b.close, fast, slow, signal)
    return {
        stem("macd", fast, slow, signal): _per_close(line, b.close),
        stem("macd_signal", fast, slow, signal): _per_close(sig, b.close),
        stem("macd_hist", fast, slow, signal): _per_close(hist, b.close),
    }


@register("stoch", "momentum", {"k_period": 14, "d_period": 3},
          lambda k_period, d_period: k_period + 2 * d_period,
          "TA-Lib STOCH (Lane)", "slow stochastic %K (smoothed d_period) and %D, 0..100",
          _periods_ok)  # fmt: skip
def _stoch(b: Ohlcv, k_period: int, d_period: int) -> dict[str, np.ndarray]:
    k, d = ta.STOCH(b.high, b.low, b.close, k_period, d_period, 0, d_period, 0)
    return {stem("stoch_k", k_period, d_period): k, stem("stoch_d", k_period, d_period): d}


@register("stochf", "momentum", {"k_period": 5, "d_period": 3},
          lambda k_period, d_period: k_period + d_period,
          "TA-Lib STOCHF (Lane)", "fast stochastic %K and %D, 0..100", _periods_ok)  # fmt: skip
def _stochf(b: Ohlcv, k_period: int, d_period: int) -> dict[str, np.ndarray]:
    k, d = ta.STOCHF(b.high, b.low, b.close, k_period, d_period, 0)
    return {stem("stochf_k", k_period, d_period): k, stem("stochf_d", k_period, d_period): d}


@register("stochrsi", "momentum", {"period": 14, "k_period": 5, "d_period": 3},
          lambda period, k_period, d_period: _wilder_mem(period) + k_period + d_period,
          "TA-Lib STOCHRSI (Chande & Kroll 1994)", "stochastic of RSI, %K and %D, 0..100",
          _periods_ok)  # fmt: skip
def _stochrsi(b: Ohlcv, period: int, k_period: int, d_period: int) -> dict[str, np.ndarray]:
    k, d = ta.STOCHRSI(b.close, period, k_period, d_period, 0)
    return {stem("stochrsi_k", period, k_period, d_period): k,
            stem("stochrsi_d", period, k_period, d_period): d}  # fmt: skip


def _hlc(name: str, fn: Callable[..., np.ndarray], family: str, mem: Callable[[int], int],
         default: int, desc: str) -> None:  # fmt: skip
    @register(name, family, {"period": default}, lambda period: mem(period),
              f"TA-Lib {fn.__name__}", desc, _periods_ok)  # fmt: skip
    def compute(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
        return {stem(name, period): fn(b.high, b.low, b.close, period)}


_hlc("willr", ta.WILLR, "momentum", lambda p: p, 14, "Williams %R, -100..0")
_hlc("cci", ta.CCI, "momentum", lambda p: p, 20, "commodity channel index (Lambert 1980)")
_hlc("adx", ta.ADX, "trend", lambda p: _wilder_mem(p, p), 14, "average directional index")
_hlc("adxr", ta.ADXR, "trend", lambda p: _wilder_mem(p, 2 * p), 14, "ADX rating")
_hlc("dx", ta.DX, "trend", _wilder_mem, 14, "directional movement index")
_hlc("plus_di", ta.PLUS_DI, "trend", _wilder_mem, 14, "plus directional indicator")
_hlc("minus_di", ta.MINUS_DI, "trend", _wilder_mem, 14, "minus directional indicator")
_hlc("atr", ta.NATR, "volatility", _wilder_mem, 14, "average true range, % of close (NATR)")


@register("aroon", "trend", {"period": 14}, lambda period: period + 1, "TA-Lib AROON (Chande)",
          "Aroon up and down, 0..100", _periods_ok)  # fmt: skip
def _aroon(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    down, up = ta.AROON(b.high, b.low, period)
    return {stem("aroon_up", period): up, stem("aroon_down", period): down}


@register("aroonosc", "trend", {"period": 14}, lambda period: period + 1,
          "TA-Lib AROONOSC (Chande)", "Aroon up minus down, -100..100", _periods_ok)  # fmt: skip
def _aroonosc(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    return {stem("aroonosc", period): ta.AROONOSC(b.high, b.low, period)}


@register("apo", "momentum", {"fast": 12, "slow": 26}, lambda fast, slow: slow,
          "TA-Lib APO (SMA type)", "absolute price oscillator, % of close", _periods_ok)  # fmt: skip
def _apo(b: Ohlcv, fast: int, slow: int) -> dict[str, np.ndarray]:
    return {stem("apo", fast, slow): _per_close(ta.APO(b.close, fast, slow, 0), b.close)}


@register("ppo", "momentum", {"fast": 12, "slow": 26}, lambda fast, slow: slow,
          "TA-Lib PPO (SMA type)", "percentage price oscillator", _periods_ok)  # fmt: skip
def _ppo(b: Ohlcv, fast: int, slow: int) -> dict[str, np.ndarray]:
    return {stem("ppo", fast, slow): ta.PPO(b.close, fast, slow, 0)}


def _close_only(name: str, fn: Callable[..., np.ndarray], family: str, mem: Callable[[int], int],
                default: int, desc: str, scale: bool = False, min_period: int = 2) -> None:  # fmt: skip
    @register(name, family, {"period": default}, lambda period: mem(period),
              f"TA-Lib {fn.__name__}", desc, _lags_ok if min_period == 1 else _periods_ok)  # fmt: skip
    def compute(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
        out = fn(b.close, period)
        return {stem(name, period): _per_close(out, b.close) if scale else out}


_close_only("mom", ta.MOM, "momentum", lambda p: p + 1, 10, "momentum, % of close", True, 1)
_close_only("roc", ta.ROC, "momentum", lambda p: p + 1, 10, "rate of change, percent", min_period=1)
_close_only("cmo", ta.CMO, "momentum", _wilder_mem, 14, "Chande momentum oscillator")
_close_only("trix", ta.TRIX, "momentum", lambda p: _ema_mem(p, 3) + 1, 15,
            "1-bar rate of change of a triple EMA, percent")  # fmt: skip
_close_only("stddev", ta.STDDEV, "volatility", lambda p: p, 20,
            "standard deviation of close, % of close", True)  # fmt: skip


@register("mfi", "volume", {"period": 14}, lambda period: period + 1,
          "TA-Lib MFI (Quong & Soudack)", "money flow index, 0..100", _periods_ok)  # fmt: skip
def _mfi(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    return {stem("mfi", period): ta.MFI(b.high, b.low, b.close, b.volume, period)}


@register(
    "bop", "momentum", {}, lambda: 1, "TA-Lib BOP", "balance of power (close-open)/(high-low)"
)
def _bop(b: Ohlcv) -> dict[str, np.ndarray]:
    return {"bop": ta.BOP(b.open, b.high, b.low, b.close)}


@register("ultosc", "momentum", {"period1": 7, "period2": 14, "period3": 28},
          lambda period1, period2, period3: max(period1, period2, period3) + 1,
          "TA-Lib ULTOSC (Williams 1985)", "ultimate oscillator, 0..100", _periods_ok)  # fmt: skip
def _ultosc(b: Ohlcv, period1: int, period2: int, period3: int) -> dict[str, np.ndarray]:
    return {stem("ultosc", period1, period2, period3):
            ta.ULTOSC(b.high, b.low, b.close, period1, period2, period3)}  # fmt: skip


# ------------------------------------------------------------------------ volatility
@register("trange", "volatility", {}, lambda: 2, "TA-Lib TRANGE (Wilder)", "true range, % of close")
def _trange(b: Ohlcv) -> dict[str, np.ndarray]:
    return {"trange": _per_close(ta.TRANGE(b.high, b.low, b.close), b.close)}


@register("realized_vol", "volatility", {"period": 20}, lambda period: period + 1,
          "TA-Lib STDDEV of 1-bar log returns",
          "population std of 100*ln(c_t/c_{t-1}) over the window", _periods_ok)  # fmt: skip
def _realized_vol(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    ret = np.empty_like(b.close)
    ret[:1] = np.nan
    ret[1:] = 100.0 * np.diff(np.log(b.close))
    return {stem("realized_vol", period): ta.STDDEV(ret, period, 1.0)}


# ---------------------------------------------------------------------------- volume
@register("obv", "volume", {"period": 20}, lambda period: period + 1, "TA-Lib OBV (Granville)",
          "change of on-balance volume over the window / volume in the window, -1..1",
          _periods_ok)  # fmt: skip
def _obv(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    # OBV is a running total from an arbitrary start; only its change is meaningful.
    obv = ta.OBV(b.close, b.volume)
    change = np.full_like(obv, np.nan)
    change[period:] = obv[period:] - obv[:-period]
    vol = ta.SUM(b.volume, period)
    return {stem("obv", period): _ratio(change, vol, 0.0)}


@register("ad", "volume", {"period": 20}, lambda period: period + 1,
          "TA-Lib AD (Chaikin accumulation/distribution)",
          "change of the A/D line over the window / volume in the window, -1..1",
          _periods_ok)  # fmt: skip
def _ad(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    ad = ta.AD(b.high, b.low, b.close, b.volume)
    change = np.full_like(ad, np.nan)
    change[period:] = ad[period:] - ad[:-period]
    vol = ta.SUM(b.volume, period)
    return {stem("ad", period): _ratio(change, vol, 0.0)}


@register("adosc", "volume", {"fast": 3, "slow": 10}, lambda fast, slow: _ema_mem(slow),
          "TA-Lib ADOSC (Chaikin oscillator)", "Chaikin oscillator / mean volume of slow window",
          _periods_ok)  # fmt: skip
def _adosc(b: Ohlcv, fast: int, slow: int) -> dict[str, np.ndarray]:
    osc = ta.ADOSC(b.high, b.low, b.close, b.volume, fast, slow)
    return {stem("adosc", fast, slow): _ratio(osc, ta.SMA(b.volume, slow), 0.0)}


@register("volume_ratio", "volume", {"period": 20}, lambda period: period,
          "TA-Lib SMA of volume", "volume / its simple moving average (1 when all zero)",
          _periods_ok)  # fmt: skip
def _volume_ratio(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    return {stem("volume_ratio", period): _ratio(b.volume, ta.SMA(b.volume, period), 1.0)}


@register("correl", "statistic", {"period": 20}, lambda period: period,
          "TA-Lib CORREL", "Pearson correlation of close and volume over the window",
          _periods_ok)  # fmt: skip
def _correl(b: Ohlcv, period: int) -> dict[str, np.ndarray]:
    out = ta.CORREL(b.close, b.volume, period)
    # Constant volume or price makes the correlation undefined; TA-Lib gives +-inf/NaN.
    out[~np.isfinite(out) & ~np.isnan(out)] = 0.0
    return {stem("correl", period): out}


# ----------------------------------------------------------------------------- cycle
@register("ht_dcperiod", "cycle", {}, lambda: _HT_MEMORY, "TA-Lib HT_DCPERIOD (Ehlers)",
          "Hilbert transform dominant cycle period, bars")  # fmt: skip
def _ht_dcperiod(b: Ohlcv) -> dict[str, np.ndarray]:
    return {"ht_dcperiod": ta.HT_DCPERIOD(b.close)}


@register("ht_dcphase", "cycle", {}, lambda: _HT_MEMORY, "TA-Lib HT_DCPHASE (Ehlers)",
          "Hilbert transform dominant cycle phase, degrees")  # fmt: skip
def _ht_dcphase(b: Ohlcv) -> dict[str, np.ndarray]:
    return {"ht_dcphase": _dc_phase(b.close).copy()}


# TA-Lib's HT_SINE is sin(phase) and sin(phase + 45 deg) of the very phase HT_DCPHASE
# returns (bit for bit; the Hilbert transform dominates both), so the sine takes the phase
# of the same bars when it was just computed: one Hilbert transform less per block (~0.25
# ms on a 650-bar window). One slot keyed by the bars' content, so no stale phase can
# match, and replaced whole (one reference store), so a reader in another thread sees
# either the old or the new (key, phase) pair, never a key with another key's phase.
_PHASE_MEMO: list[tuple[int, int, np.ndarray] | None] = [None]
_DEG_TO_RAD = math.pi / 180.0


def _dc_phase(close: np.ndarray) -> np.ndarray:
    key = (close.size, hash(close.tobytes()))
    slot = _PHASE_MEMO[0]
    if slot is not None and slot[:2] == key:
        return slot[2]
    phase = ta.HT_DCPHASE(close)
    _PHASE_MEMO[0] = (*key, phase)
    return phase


@register("ht_phasor", "cycle", {}, lambda: _HT_MEMORY, "TA-Lib HT_PHASOR (Ehlers)",
          "Hilbert transform in-phase and quadrature components, % of close")  # fmt: skip
def _ht_phasor(b: Ohlcv) -> dict[str, np.ndarray]:
    inphase, quadrature = ta.HT_PHASOR(b.close)
    return {"ht_inphase": _per_close(inphase, b.close),
            "ht_quadrature": _per_close(quadrature, b.close)}  # fmt: skip


@register("ht_sine", "cycle", {}, lambda: _HT_MEMORY, "TA-Lib HT_SINE (Ehlers)",
          "Hilbert transform sine wave and lead sine")  # fmt: skip
def _ht_sine(b: Ohlcv) -> dict[str, np.ndarray]:
    phase = _dc_phase(b.close)
    return {
        "ht_sine": np.sin(phase * _DEG_TO_RAD),
        "ht_leadsine": np.sin((phase + 45.0) * _DEG_TO_RAD),
    }


@register("ht_trendmode", "cycle", {}, lambda: _HT_MEMORY, "TA-Lib HT_TRENDMODE (Ehlers)",
          "1 in a trend, 0 in a cycle")  # fmt: skip
def _ht_trendmode(b: Ohlcv) -> dict[str, np.ndarray]:
    out = ta.HT_TRENDMODE(b.close).astype(np.float64)
    out[:63] = np.nan  # TA-Lib fills its integer warm-up with 0, not a missing value
    return {"ht_trendmode": out}


# ------------------------------------------------------------------- price transform
def _price(name: str, fn: Callable[..., np.ndarray], args: str, desc: str) -> None:
    @register(name, "price", {}, lambda: 1, f"TA-Lib {fn.__name__}", desc)
    def compute(b: Ohlcv) -> dict[str, np.ndarray]:
        inputs = {"o": b.open, "h": b.high, "l": b.low, "c": b.close}
        return {name: _dist(fn(*(inputs[k] for k in args)), b.close)}


_price("avgprice", ta.AVGPRICE, "ohlc", "(o+h+l+c)/4; % distance of close")
_price("medprice", ta.MEDPRICE, "hl", "(h+l)/2; % distance of close")
_price("typprice", ta.TYPPRICE, "hlc", "(h+l+c)/3; % distance of close")
_price("wclprice", ta.WCLPRICE, "hlc", "(h+l+2c)/4; % distance of close")


# --------------------------------------------------------------- candlestick patterns
def _candle(name: str, fn: Callable[..., np.ndarray], desc: str) -> None:
    lookback = _lookback_of(fn)

    @register(name, "pattern", {}, lambda: lookback + 1, f"TA-Lib {fn.__name__}",
              f"{desc}: +1 bullish, -1 bearish, 0 none")  # fmt: skip
    def compute(b: Ohlcv) -> dict[str, np.ndarray]:
        out = fn(b.open, b.high, b.low, b.close).astype(np.float64) / 100.0
        out[:lookback] = np.nan  # TA-Lib reports its warm-up as 0 ("no pattern")
        return {name: out}


def _lookback_of(fn: Callable[..., np.ndarray]) -> int:
    from talib import abstract

    return int(abstract.Function(fn.__name__).lookback)


_candle("cdl_doji", ta.CDLDOJI, "doji")
_candle("cdl_engulfing", ta.CDLENGULFING, "engulfing")
_candle("cdl_hammer", ta.CDLHAMMER, "hammer")
_candle("cdl_shootingstar", ta.CDLSHOOTINGSTAR, "shooting star")
_candle("cdl_harami", ta.CDLHARAMI, "harami")
