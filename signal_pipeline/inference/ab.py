"""A/B testing: champion and challenger share traffic by symbol; outcomes compared.

**Routing** (:func:`assign_arm`): a symbol goes to the challenger when
``blake2b(salt:symbol) / 2**64 < share``. The hash is deterministic (the same symbol
always meets the same model, so its signals stay consistent) and uniform, so a share
``s`` sends ``s`` of the symbols, within sampling error, to the challenger. Changing the
``salt`` reshuffles the symbols for a new experiment.

**Report** (:func:`ab_test_report`): per arm, the number of traded signals (BUY/SELL
with a realised outcome), the hit rate (share with a positive direction-signed return)
and the mean return; the hit rates are compared with the pooled two-proportion z-test,
the returns with Welch's t-test (unequal variances, Welch-Satterthwaite degrees of
freedom); both two-sided.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from signal_pipeline.inference.engine import SignalEngine
from signal_pipeline.inference.result import Inference
from signal_pipeline.signals.model import Signal

CHAMPION = "champion"
CHALLENGER = "challenger"


class ABTestError(ValueError):
    """A/B settings or outcome tables that cannot be used; the message names the fix."""


def assign_arm(symbol: str, share: float, salt: str = "ab") -> str:
    """``"challenger"`` for the ``share`` of symbols the hash picks, else ``"champion"``."""
    if not 0.0 <= share <= 1.0:
        raise ABTestError(f"challenger share {share} must lie within [0, 1].")
    digest = hashlib.blake2b(f"{salt}:{symbol}".encode(), digest_size=8).digest()
    return CHALLENGER if int.from_bytes(digest, "big") / 2**64 < share else CHAMPION


@dataclass
class ABRouter:
    """Routes each symbol's requests to the champion or challenger engine; every answer
    carries the ``arm`` and the ``model_version`` of the engine that made it."""

    champion: SignalEngine
    challenger: SignalEngine | None = None
    share: float = 0.1
    salt: str = "ab"

    def __post_init__(self) -> None:
        assign_arm("check", self.share)  # validates the share early

    def arm_for(self, symbol: str) -> str:
        if self.challenger is None:
            return CHAMPION
        return assign_arm(symbol, self.share, self.salt)

    def engine_for(self, symbol: str) -> SignalEngine:
        arm = self.arm_for(symbol)
        engine = self.challenger if arm == CHALLENGER else self.champion
        assert engine is not None
        return engine

    def infer(
        self,
        symbol: str,
        bars: pd.DataFrame,
        chain: Any = None,
        quote: Any = None,
        *,
        now: datetime | None = None,
    ) -> Inference:
        answer = self.engine_for(symbol).infer(symbol, bars, chain, quote, now=now)
        return answer.with_(arm=self.arm_for(symbol))

    def signal_for(
        self,
        symbol: str,
        bars: pd.DataFrame,
        chain: Any = None,
        quote: Any = None,
        *,
        now: datetime | None = None,
    ) -> Signal:
        return self.infer(symbol, bars, chain, quote, now=now).signal


def two_proportion_ztest(hits_a: int, n_a: int, hits_b: int, n_b: int) -> tuple[float, float]:
    """(z, two-sided p) of H0: equal proportions, pooled standard error (b minus a)."""
    if n_a == 0 or n_b == 0:
        return math.nan, math.nan
    pooled = (hits_a + hits_b) / (n_a + n_b)
    se = math.sqrt(pooled * (1 - pooled) * (1 / n_a + 1 / n_b))
    if se == 0:
        return math.nan, math.nan
    z = (hits_b / n_b - hits_a / n_a) / se
    return z, float(2 * stats.norm.sf(abs(z)))


def welch_ttest(a: np.ndarray, b: np.ndarray) -> tuple[float, float, float]:
    """(t, degrees of freedom, two-sided p) of H0: equal means, unequal variances (b - a)."""
    n_a, n_b = len(a), len(b)
    if n_a < 2 or n_b < 2:
        return math.nan, math.nan, math.nan
    va, vb = np.var(a, ddof=1) / n_a, np.var(b, ddof=1) / n_b
    if va + vb == 0:
        return math.nan, math.nan, math.nan
    t = (np.mean(b) - np.mean(a)) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / (n_a - 1) + vb**2 / (n_b - 1))
    return float(t), float(df), float(2 * stats.t.sf(abs(t), df))


def ab_test_report(
    outcomes: pd.DataFrame,
    *,
    champion_version: str,
    challenger_version: str,
    alpha: float = 0.05,
) -> dict[str, Any]:
    """Compare the two model versions on realised outcomes.

    ``outcomes``: one row per signal with ``model_version``, ``signal_type`` and
    ``performance`` (the direction-signed realised return in %, as the signal tracker
    fills it; the ``trading_signals`` table). HOLDs and signals without an outcome are
    left out: they trade nothing. Returns a flat dict: per arm ``n``, ``hit_rate``,
    ``mean_return``; ``z``/``p_hit`` (two-proportion z-test), ``t``/``df``/``p_return``
    (Welch), the differences (challenger minus champion) and ``significant_*`` at ``alpha``.
    """
    needed = {"model_version", "signal_type", "performance"}
    if not needed <= set(outcomes.columns):
        raise ABTestError(
            f"outcomes lack {sorted(needed - set(outcomes.columns))}: pass signals with their "
            "realised performance (signal tracker output)."
        )
    traded = outcomes[
        outcomes["signal_type"].astype(str).isin(["BUY", "SELL"]) & outcomes["performance"].notna()
    ]
    arms: Mapping[str, str] = {CHAMPION: champion_version, CHALLENGER: challenger_version}
    returns = {
        arm: traded.loc[traded["model_version"] == version, "performance"].to_numpy(np.float64)
        for arm, version in arms.items()
    }
    report: dict[str, Any] = {
        "champion_version": champion_version,
        "challenger_version": challenger_version,
    }
    for arm, values in returns.items():
        report[f"{arm}_n"] = len(values)
        report[f"{arm}_hit_rate"] = float(np.mean(values > 0)) if len(values) else math.nan
        report[f"{arm}_mean_return"] = float(np.mean(values)) if len(values) else math.nan
    a, b = returns[CHAMPION], returns[CHALLENGER]
    z, p_hit = two_proportion_ztest(int((a > 0).sum()), len(a), int((b > 0).sum()), len(b))
    t, df, p_return = welch_ttest(a, b)
    report.update(
        {
            "hit_rate_diff": report["challenger_hit_rate"] - report["champion_hit_rate"],
            "mean_return_diff": report["challenger_mean_return"] - report["champion_mean_return"],
            "z": z,
            "p_hit": p_hit,
            "t": t,
            "df": df,
            "p_return": p_return,
            "alpha": alpha,
            "significant_hit": bool(p_hit < alpha) if not math.isnan(p_hit) else False,
            "significant_return": bool(p_return < alpha) if not math.isnan(p_return) else False,
        }
    )
    return report
