"""A/B routing by symbol hash; significance tests against scipy."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from signal_pipeline.inference import ABRouter, SignalEngine, ab_test_report, assign_arm
from signal_pipeline.inference.ab import two_proportion_ztest, welch_ttest
from signal_pipeline_tests.inference.conftest import Trained, recent_bars


def test_routing_is_deterministic_and_matches_the_share() -> None:
    symbols = [f"S{i:05d}" for i in range(20_000)]
    arms = [assign_arm(s, 0.3) for s in symbols]
    assert arms == [assign_arm(s, 0.3) for s in symbols]
    share = arms.count("challenger") / len(arms)
    assert abs(share - 0.3) < 4 * math.sqrt(0.3 * 0.7 / len(arms))
    assert {assign_arm(s, 0.0) for s in symbols[:500]} == {"champion"}
    assert {assign_arm(s, 1.0) for s in symbols[:500]} == {"challenger"}
    # A larger share only moves symbols to the challenger (nested buckets).
    assert all(
        assign_arm(s, 0.5) == "challenger"
        for s, a in zip(symbols, arms, strict=True)
        if a == "challenger"
    )


def test_router_records_arm_and_version(trained: Trained) -> None:
    def engine(version: str) -> SignalEngine:
        return SignalEngine(
            trained.ensemble,
            model_version=version,
            spec=trained.spec,
            cache=False,
            config={"max_bar_age": None},
        )

    router = ABRouter(engine("champ-1"), engine("chall-2"), share=0.5)
    for symbol in ("AAA", "BBB", "CCC"):
        answer = router.infer(symbol, recent_bars(trained.bars, symbol))
        expected = assign_arm(symbol, 0.5)
        assert answer.arm == expected
        assert answer.signal.model_version == ("chall-2" if expected == "challenger" else "champ-1")


def test_two_proportion_z_matches_chi_square() -> None:
    z, p = two_proportion_ztest(45, 100, 62, 110)
    table = np.array([[45, 55], [62, 48]])
    chi2, p_chi, _, _ = stats.chi2_contingency(table, correction=False)
    assert z**2 == pytest.approx(chi2, rel=1e-12)
    assert p == pytest.approx(p_chi, rel=1e-9)


def test_welch_matches_scipy() -> None:
    rng = np.random.default_rng(5)
    a, b = rng.normal(0.0, 1.0, 80), rng.normal(0.4, 2.0, 45)
    t, df, p = welch_ttest(a, b)
    expected = stats.ttest_ind(b, a, equal_var=False)
    assert t == pytest.approx(expected.statistic, rel=1e-12)
    assert p == pytest.approx(expected.pvalue, rel=1e-9)
    assert df == pytest.approx(expected.df, rel=1e-12)


def test_ab_report_on_crafted_outcomes() -> None:
    champion = [0.5, -0.2, 0.1, -0.4, 0.3, -0.1, 0.2, -0.3]  # 4 of 8 positive
    challenger = [0.6, 0.4, -0.1, 0.5, 0.2, 0.3, -0.2, 0.7, 0.1, 0.4]  # 8 of 10
    rows = [("v1", "BUY", r) for r in champion] + [("v2", "SELL", r) for r in challenger]
    rows += [("v1", "HOLD", 5.0), ("v2", "BUY", None)]  # left out: HOLD, no outcome
    outcomes = pd.DataFrame(rows, columns=["model_version", "signal_type", "performance"])
    report = ab_test_report(outcomes, champion_version="v1", challenger_version="v2")
    assert (report["champion_n"], report["challenger_n"]) == (8, 10)
    assert report["champion_hit_rate"] == 0.5 and report["challenger_hit_rate"] == 0.8
    assert report["mean_return_diff"] == pytest.approx(np.mean(challenger) - np.mean(champion))
    welch = stats.ttest_ind(challenger, champion, equal_var=False)
    assert report["p_return"] == pytest.approx(welch.pvalue, rel=1e-9)
    _, p_chi, _, _ = stats.chi2_contingency(np.array([[4, 4], [8, 2]]), correction=False)
    assert report["p_hit"] == pytest.approx(p_chi, rel=1e-9)
    assert report["significant_hit"] == (p_chi < 0.05)
