"""Compile every numba function of the package once, into numba's on-disk cache.

The streaming indicator kernels, the microstructure and option-surface helpers, the
batch assembly and the random-forest traversal are compiled on first use (tens of
seconds for all of them on 2 cores) and cached next to their sources, so every later
process loads them in milliseconds. ``make`` runs this module right after installing,
so the first ``make demo``, ``make serve`` request or test does not pay for it::

    python -m signal_pipeline.precompile

It exercises the real code paths on a small simulated market: the batch feature table
(quotes and option chains included), the online engine (warm start and updates, every
kernel of the default spec and the registry's defaults) and a fitted random forest.
"""

from __future__ import annotations

import time

import numpy as np


def precompile(verbose: bool = True) -> float:
    """Compile (or load) every numba function; returns the seconds it took."""
    start = time.perf_counter()

    def say(step: str) -> None:
        if verbose:
            print(f"  precompile: {step} ({time.perf_counter() - start:.1f} s)", flush=True)

    from signal_pipeline.data import simulate_market
    from signal_pipeline.features import OnlineFeatureEngine, compute_features
    from signal_pipeline.features.indicators import REGISTRY, reference_walk
    from signal_pipeline.features.kernels import available, stream

    market = simulate_market(["AAA"], 2, seed=1)
    bars, quotes, chains = market.bars, market.quotes, market.option_chains
    compute_features(bars, option_chains=chains, quotes=quotes)
    say("batch features")
    cut = 400
    engine = OnlineFeatureEngine()
    engine.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                      option_chains=chains[chains["ts"] <= bars["ts"].iloc[cut - 1]])  # fmt: skip
    qmap = {r.ts: r._asdict() for r in quotes.itertuples(index=False)}
    for bar in bars.iloc[cut : cut + 20].to_dict("records"):
        engine.update(bar, quote=qmap.get(bar["ts"]))
    walk = reference_walk(64)
    for name in available():  # kernels the default spec leaves out (registry defaults)
        stream(name, dict(REGISTRY[name].defaults), walk)
    say("online engine and kernels")

    from sklearn.ensemble import RandomForestClassifier

    from signal_pipeline.models.forest import FlatForest

    rng = np.random.default_rng(0)
    X, y = rng.normal(size=(60, 4)), rng.integers(0, 3, 60)
    FlatForest(RandomForestClassifier(n_estimators=2, max_depth=3, random_state=0).fit(X, y))
    say("random forest")
    return time.perf_counter() - start


if __name__ == "__main__":
    precompile()
