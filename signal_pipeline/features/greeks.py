"""Black-Scholes-Merton prices, Greeks and a vectorised implied-volatility solver.

Model: a European option on an asset paying a continuous dividend yield ``q``, with a
continuously compounded risk-free rate ``r`` (Merton 1973; formulas as in Hull, *Options,
Futures and Other Derivatives*, ch. 17/19, and Haug, *The Complete Guide to Option Pricing
Formulas*, 2nd ed., §1.1.6)::

    F  = S·exp((r − q)·T)                     forward
    d1 = [ln(F/K) + σ²T/2] / (σ√T),  d2 = d1 − σ√T
    C  = exp(−rT)·[F·N(d1) − K·N(d2)]
    P  = exp(−rT)·[K·N(−d2) − F·N(−d1)]

Conventions (the same as py_vollib's ``greeks.analytical``, which the tests compare with):

- ``T`` in years (the option-chain contract uses ACT/365: ``(expiry − ts) / 365 days``);
  ``sigma``, ``r`` and ``q`` are annualised decimals (0.20 = 20 %).
- ``delta``: per 1 unit of underlying price; ``gamma``: per unit² of underlying price.
- ``theta``: price change per **calendar day**, the annual derivative −∂V/∂T divided by 365.
- ``vega``: price change per **1 volatility point** (σ + 0.01), i.e. ∂V/∂σ × 0.01.
- ``rho``: price change per **1 rate point** (r + 0.01), i.e. ∂V/∂r × 0.01.

Inputs broadcast like numpy arrays. Non-finite or non-positive ``S``, ``K``, ``T`` or
``sigma`` give NaN in that position rather than an exception, so one bad contract does not
stop a whole chain; an unknown ``option_type`` raises :class:`OptionInputError`.

Prices are computed as discounted (out-of-the-money option price + intrinsic value), with the
out-of-the-money leg obtained by put-call parity. That keeps full relative precision for
deep in-the-money options, whose time value would otherwise be lost in cancellation.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np
from numpy.typing import ArrayLike, NDArray
from scipy.special import ndtr

FloatArray = NDArray[np.float64]

_SQRT_2PI = float(np.sqrt(2.0 * np.pi))
DAYS_PER_YEAR = 365.0  # theta is per calendar day, matching ACT/365 time to expiry


class OptionInputError(ValueError):
    """An option's type (or another non-numeric input) is not one the model knows."""


class IVStatus(IntEnum):
    """Why :func:`solve_implied_volatility` returned what it returned (one code per option)."""

    OK = 0
    INVALID_INPUT = 1  # price, S, K or T non-finite or <= 0, or r/q non-finite
    BELOW_INTRINSIC = 2  # price < discounted intrinsic value: no volatility reproduces it
    NO_TIME_VALUE = 3  # price equals intrinsic to double precision: volatility not identifiable
    ABOVE_UPPER_BOUND = 4  # price >= S·e^{-qT} (call) or K·e^{-rT} (put): arbitrage bound
    ABOVE_MAX_VOL = 5  # a volatility above ``sigma_max`` would be needed
    NO_CONVERGENCE = 6  # iteration limit reached before the tolerance


@dataclass(frozen=True)
class ImpliedVolResult:
    """Implied volatilities (NaN where not solvable), a :class:`IVStatus` code per option and
    the number of iterations each option took."""

    iv: FloatArray
    status: NDArray[np.int8]
    iterations: NDArray[np.int16]


def option_sign(option_type: ArrayLike) -> FloatArray:
    """+1.0 for calls ('C'/'c'), −1.0 for puts ('P'/'p'); anything else raises."""
    kinds = np.asarray(option_type)
    is_call = kinds == "C"
    is_put = kinds == "P"
    unknown = ~(is_call | is_put)
    if np.any(unknown):  # the slower case-folding pass only when needed
        upper = np.char.upper(kinds.astype(str))
        is_call, is_put = upper == "C", upper == "P"
        unknown = ~(is_call | is_put)
    if np.any(unknown):
        bad = sorted({str(v) for v in np.atleast_1d(kinds)[np.atleast_1d(unknown)]})
        raise OptionInputError(
            f"option_type values {bad[:5]} are not 'C' or 'P': "
            "pass 'C' for calls and 'P' for puts (upper or lower case)"
        )
    return np.where(is_call, 1.0, -1.0)


def _black_otm(forward: FloatArray, strike: FloatArray, total_vol: FloatArray) -> FloatArray:
    """Undiscounted Black price of the out-of-the-money option (call if K >= F else put) at
    total volatility s = σ√T. Each leg is evaluated in the tail where ``ndtr`` is accurate."""
    x = np.log(forward / strike)
    theta = np.where(strike >= forward, 1.0, -1.0)
    with np.errstate(divide="ignore", invalid="ignore"):
        d1 = x / total_vol + 0.5 * total_vol
    d2 = d1 - total_vol
    price = theta * (forward * ndtr(theta * d1) - strike * ndtr(theta * d2))
    # The subtraction can round a true tiny price to a (tiny) negative: it is >= 0 by theory.
    return np.maximum(price, 0.0)


def _inputs(
    S: ArrayLike, K: ArrayLike, T: ArrayLike, r: ArrayLike, q: ArrayLike, sigma: ArrayLike
) -> tuple[FloatArray, ...]:
    arrays = np.broadcast_arrays(*(np.asarray(a, dtype=np.float64) for a in (S, K, T, r, q, sigma)))
    return tuple(np.array(a, dtype=np.float64) for a in arrays)


def _valid(*arrays: FloatArray) -> NDArray[np.bool_]:
    """Finite everywhere, and S, K, T, sigma (positions 0, 1, 2, 5 of S, K, T, r, q, sigma) > 0."""
    finite = np.logical_and.reduce([np.isfinite(a) for a in arrays])
    S, K, T, _, _, sigma = arrays
    return finite & (S > 0) & (K > 0) & (T > 0) & (sigma > 0)


def bsm_price(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
    q: ArrayLike = 0.0,
    option_type: ArrayLike = "C",
) -> FloatArray:
    """Black-Scholes-Merton price of European calls/puts (vectorised; NaN for invalid inputs).

    Example: ``bsm_price(49, 50, 0.3846, 0.05, 0.2, 0.0, "C")`` ≈ 2.4005, the $2.40 of Hull's
    delta-hedging example (*Options, Futures and Other Derivatives*, ch. "The Greek Letters").
    """
    S, K, T, r, q, sigma = _inputs(S, K, T, r, q, sigma)
    sign = np.broadcast_to(option_sign(option_type), S.shape)
    ok = _valid(S, K, T, r, q, sigma)
    with np.errstate(all="ignore"):
        forward = S * np.exp((r - q) * T)
        otm = _black_otm(forward, K, sigma * np.sqrt(T))
        is_otm = (sign > 0) == (forward <= K)
        intrinsic = np.maximum(sign * (forward - K), 0.0)
        # The requested option is either the OTM one or its parity twin (OTM + intrinsic).
        price = np.exp(-r * T) * np.where(is_otm, otm, otm + intrinsic)
    return np.where(ok, price, np.nan)


def bsm_greeks(
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    sigma: ArrayLike,
    q: ArrayLike = 0.0,
    option_type: ArrayLike = "C",
) -> dict[str, FloatArray]:
    """Analytic Black-Scholes-Merton Greeks: ``delta, gamma, theta, vega, rho``.

    Units (see the module docstring): theta per calendar day, vega per volatility point
    (0.01), rho per rate point (0.01). NaN where inputs are invalid.
    """
    S, K, T, r, q, sigma = _inputs(S, K, T, r, q, sigma)
    sign = np.broadcast_to(option_sign(option_type), S.shape)
    return signed_greeks(S, K, T, r, q, sigma, sign, GREEKS)


GREEKS = ("delta", "gamma", "theta", "vega", "rho")


def signed_greeks(
    S: FloatArray,
    K: FloatArray,
    T: FloatArray,
    r: FloatArray,
    q: FloatArray,
    sigma: FloatArray,
    sign: FloatArray,
    names: tuple[str, ...] = GREEKS,
) -> dict[str, FloatArray]:
    """:func:`bsm_greeks` of float64 arrays of one shape (``sign`` +1.0 for calls, −1.0 for
    puts), only the Greeks in ``names``: the same formulas, without the others' cost."""
    ok = _valid(S, K, T, r, q, sigma)
    out: dict[str, FloatArray] = {}
    with np.errstate(all="ignore"):
        sqrt_t = np.sqrt(T)
        d1 = (np.log(S / K) + (r - q + 0.5 * sigma**2) * T) / (sigma * sqrt_t)
        pdf_d1 = np.exp(-0.5 * d1**2) / _SQRT_2PI
        div_disc = np.exp(-q * T)
        n_d1 = ndtr(sign * d1)
        if "delta" in names:
            out["delta"] = sign * div_disc * n_d1
        if "gamma" in names:
            out["gamma"] = div_disc * pdf_d1 / (S * sigma * sqrt_t)
        if "vega" in names:
            out["vega"] = S * div_disc * pdf_d1 * sqrt_t * 0.01
        if "theta" in names or "rho" in names:
            d2 = d1 - sigma * sqrt_t
            rate_disc = np.exp(-r * T)
            n_d2 = ndtr(sign * d2)
            decay = -S * div_disc * pdf_d1 * sigma / (2.0 * sqrt_t)
            theta_year = decay + sign * (q * S * div_disc * n_d1 - r * K * rate_disc * n_d2)
            out["theta"] = theta_year / DAYS_PER_YEAR
            out["rho"] = sign * K * T * rate_disc * n_d2 * 0.01
    return {name: np.where(ok, out[name], np.nan) for name in names}


def _corrado_miller_total_vol(
    call_price: FloatArray, forward: FloatArray, strike: FloatArray
) -> FloatArray:
    """Corrado & Miller (1996) closed-form guess of s = σ√T from an undiscounted call price.

    ``s ≈ √(2π)/(F+K) · [C − (F−K)/2 + √((C − (F−K)/2)² − (F−K)²/π)]``; at the money it is
    the Brenner & Subrahmanyam (1988) rule s ≈ √(2π)·C/F. The radicand goes negative in the
    wings, where it is floored at 0 and the safeguarded iteration does the rest.
    """
    half_gap = 0.5 * (forward - strike)
    centred = call_price - half_gap
    radicand = np.maximum(centred**2 - (forward - strike) ** 2 / np.pi, 0.0)
    return _SQRT_2PI / (forward + strike) * (centred + np.sqrt(radicand))


def solve_implied_volatility(
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike = 0.0,
    option_type: ArrayLike = "C",
    *,
    sigma_max: float = 10.0,
    tol: float = 1e-12,
    max_iter: int = 100,
) -> ImpliedVolResult:
    """Black-Scholes-Merton implied volatility of many options at once, with a status code.

    Method: the price is turned into the undiscounted price of the out-of-the-money option
    with the same strike (put-call parity), which holds all the volatility information
    without the intrinsic value that swamps it deep in the money. The total volatility
    s = σ√T then solves ``ln b(s) = ln b*`` where b is the undiscounted OTM Black price:
    the log makes the deep-wing function close to linear in 1/s² instead of exponentially
    flat, so Newton steps work there too. Starting from the Corrado–Miller guess, each
    Newton step is kept inside a bracket [lo, hi] that always contains the root; a step
    that would leave it (or fails to shrink it) is replaced by bisection, so the iteration
    converges for every price inside the no-arbitrage bounds.

    Bounds: a price below the discounted intrinsic value gives NaN with
    ``IVStatus.BELOW_INTRINSIC``; at or above the upper bound (S·e^{−qT} for a call,
    K·e^{−rT} for a put) ``ABOVE_UPPER_BOUND``; needing σ > ``sigma_max``
    ``ABOVE_MAX_VOL``; a price equal to intrinsic to double precision ``NO_TIME_VALUE``.
    """
    S, K, T, r, q, target = _inputs(S, K, T, r, q, price)
    sign = np.broadcast_to(option_sign(option_type), S.shape)
    shape = S.shape
    S, K, T, r, q, target, sign = (a.ravel() for a in (S, K, T, r, q, target, sign))
    n = S.size
    iv = np.full(n, np.nan)
    status = np.full(n, IVStatus.OK, dtype=np.int8)
    iterations = np.zeros(n, dtype=np.int16)

    valid = (
        np.isfinite(target) & np.isfinite(S) & np.isfinite(K) & np.isfinite(T)
        & np.isfinite(r) & np.isfinite(q) & (target > 0) & (S > 0) & (K > 0) & (T > 0)
    )  # fmt: skip
    status[~valid] = IVStatus.INVALID_INPUT
    with np.errstate(all="ignore"):
        forward = S * np.exp((r - q) * T)
        undiscounted = target * np.exp(r * T)
        intrinsic = np.maximum(sign * (forward - K), 0.0)
        otm_price = undiscounted - intrinsic  # time value = price of the OTM parity twin
        upper = np.where(sign > 0, forward, K)
    # In the money, price − intrinsic is only known to the rounding error of the inputs'
    # magnitude; out of the money nothing is subtracted and any positive price is exact.
    eps = np.where(intrinsic > 0, 64.0 * np.finfo(np.float64).eps * np.maximum(forward, K), 0.0)
    below = valid & (otm_price < -eps)
    flat = valid & ~below & (otm_price <= eps)
    above = valid & (undiscounted >= upper * (1.0 - 1e-14))
    status[below] = IVStatus.BELOW_INTRINSIC
    status[flat] = IVStatus.NO_TIME_VALUE
    status[above & ~below & ~flat] = IVStatus.ABOVE_UPPER_BOUND

    todo = np.flatnonzero(status == IVStatus.OK)
    if todo.size:
        iv_todo, st_todo, it_todo = _solve_total_vol(
            otm_price[todo], forward[todo], K[todo], T[todo], sign[todo], sigma_max, tol, max_iter
        )
        iv[todo] = iv_todo
        status[todo] = st_todo
        iterations[todo] = it_todo
    return ImpliedVolResult(
        iv=iv.reshape(shape), status=status.reshape(shape), iterations=iterations.reshape(shape)
    )


def _solve_total_vol(
    otm_price: FloatArray,
    forward: FloatArray,
    strike: FloatArray,
    T: FloatArray,
    sign: FloatArray,
    sigma_max: float,
    tol: float,
    max_iter: int,
) -> tuple[FloatArray, NDArray[np.int8], NDArray[np.int16]]:
    n = otm_price.size
    sqrt_t = np.sqrt(T)
    status = np.full(n, IVStatus.OK, dtype=np.int8)
    iterations = np.zeros(n, dtype=np.int16)
    lo = np.zeros(n)
    hi = sigma_max * sqrt_t
    reachable = _black_otm(forward, strike, hi) > otm_price
    status[~reachable] = IVStatus.ABOVE_MAX_VOL

    # Initial guess from the equivalent call price (parity), clamped inside the bracket.
    call_price = otm_price + np.maximum(forward - strike, 0.0)
    guess = _corrado_miller_total_vol(call_price, forward, strike)
    s = np.clip(np.where(np.isfinite(guess) & (guess > 0), guess, 0.2 * sqrt_t), 1e-3 * hi, hi)
    log_target = np.log(otm_price)
    result = np.full(n, np.nan)

    active = np.flatnonzero(reachable)
    for step in range(1, max_iter + 1):
        if active.size == 0:
            break
        f, k, s_a = forward[active], strike[active], s[active]
        b = _black_otm(f, k, s_a)
        # ∂b/∂s = F·φ(d1) for both calls and puts (undiscounted Black vega in total vol).
        d1 = np.log(f / k) / s_a + 0.5 * s_a
        vega = f * np.exp(-0.5 * d1 * d1) / _SQRT_2PI
        with np.errstate(divide="ignore", invalid="ignore"):
            g = np.log(b) - log_target[active]
            # b is increasing in s, so the sign of g tells which side of the root s is on.
            lo[active] = np.where(g < 0, s_a, lo[active])
            hi[active] = np.where(g > 0, s_a, hi[active])
            newton = s_a - g * b / vega
        lo_a, hi_a = lo[active], hi[active]
        inside = np.isfinite(newton) & (newton > lo_a) & (newton < hi_a)
        s_next = np.where(inside, newton, 0.5 * (lo_a + hi_a))
        done = (
            (np.abs(s_next - s_a) <= tol * np.maximum(s_a, 1e-300))
            | (g == 0)
            | (hi_a - lo_a <= tol * hi_a)
        )
        s[active] = s_next
        iterations[active] = step
        result[active[done]] = s_next[done]
        active = active[~done]
    status[active] = IVStatus.NO_CONVERGENCE
    return result / sqrt_t, status, iterations


def implied_volatility(
    price: ArrayLike,
    S: ArrayLike,
    K: ArrayLike,
    T: ArrayLike,
    r: ArrayLike,
    q: ArrayLike = 0.0,
    option_type: ArrayLike = "C",
    **solver_options: float,
) -> FloatArray:
    """Implied volatilities only (NaN where not solvable); see
    :func:`solve_implied_volatility` for the method, the reason codes and the options."""
    return solve_implied_volatility(price, S, K, T, r, q, option_type, **solver_options).iv
