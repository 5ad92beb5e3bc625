"""Feature engineering speed: online update latency and throughput, cache savings, and the
batch table for many symbols (time, rows/s, peak memory).

Sizes can be reduced for a quick look with BENCH_FEATURES_SYMBOLS / BENCH_FEATURES_DAYS
(defaults 100 and 60, the issue's figures) and BENCH_FEATURES_STREAM (bars streamed
online, default 1,170 = 3 sessions).
"""

from __future__ import annotations

import os
import time
from typing import Any

import numpy as np
import pandas as pd

from benchmarks._util import peak_rss_mib, percentiles_ms, timer
from signal_pipeline.data import simulate_market
from signal_pipeline.features import OnlineFeatureEngine, load_feature_spec
from signal_pipeline.features.pipeline import iter_features

TECHNICAL_ONLY = {"microstructure": {"enabled": False}, "options": {"enabled": False}}


def _technical_only_spec() -> Any:
    import yaml

    from signal_pipeline.features.spec import DEFAULT_SPEC_PATH

    raw = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    return load_feature_spec({**raw, **TECHNICAL_ONLY})


def _stream(engine: OnlineFeatureEngine, records: list[tuple]) -> list[float]:
    samples = []
    for bar, quote, chain in records:
        start = time.perf_counter()
        engine.update(bar, chain=chain, quote=quote)
        samples.append(time.perf_counter() - start)
    return samples


def online_figures(stream_bars: int) -> dict[str, Any]:
    warm_days = 5
    days = warm_days + -(-stream_bars // 390)
    market = simulate_market(["AAA"], days, seed=11)
    bars, quotes, chains = market.bars, market.quotes, market.option_chains
    cut = warm_days * 390
    warm_end = bars["ts"].iloc[cut - 1]
    qmap = {r.ts: r._asdict() for r in quotes.itertuples(index=False)}
    cmap = {ts: g for ts, g in chains.groupby("ts")}
    records = [(b, qmap.get(b["ts"]), cmap.get(b["ts"]))
               for b in bars.iloc[cut : cut + stream_bars].to_dict("records")]  # fmt: skip
    out: dict[str, Any] = {"online_stream_bars": len(records), "online_warm_bars": cut}

    engine = OnlineFeatureEngine()
    engine.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                      option_chains=chains[chains["ts"] <= warm_end])  # fmt: skip
    full = _stream(engine, records)
    out["online_features_per_row"] = len(engine.latest("AAA"))
    out.update({f"online_full_{k}": v for k, v in percentiles_ms(full).items()})
    out["online_full_updates_per_s_one_core"] = round(len(full) / sum(full), 1)
    stats = engine.cache_stats
    out["cache_saved_share_of_feature_columns"] = round(stats["saved_share"], 4)
    out["online_buffer_bars_1m"] = engine.buffer_lengths()["1m"]

    tech = OnlineFeatureEngine(_technical_only_spec())
    tech.warm_start(bars.iloc[:cut])
    tech_samples = _stream(tech, [(b, None, None) for b, _, _ in records])
    out.update({f"online_technical_only_{k}": v for k, v in percentiles_ms(tech_samples).items()})
    out["online_technical_only_updates_per_s_one_core"] = round(
        len(tech_samples) / sum(tech_samples), 1
    )

    # The cache's worth in time: the same stream with every timeframe recomputed each bar.
    n = min(300, len(records))
    nocache = OnlineFeatureEngine(cache=False)
    nocache.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                       option_chains=chains[chains["ts"] <= warm_end])  # fmt: skip
    slow = _stream(nocache, records[:n])
    out["cache_saved_share_of_time"] = round(1.0 - sum(full[:n]) / sum(slow), 4)
    out["online_no_cache_p50_ms"] = percentiles_ms(slow)["p50_ms"]
    return out


def batch_figures(symbols: int, days: int) -> dict[str, Any]:
    with timer() as sim_time:
        market = simulate_market(symbols, days, seed=5)
    rows, columns = 0, 0
    rss_before = peak_rss_mib()
    with timer() as elapsed:
        for frame in iter_features(market.bars, option_chains=market.option_chains,
                                   quotes=market.quotes):  # fmt: skip
            rows += len(frame)
            columns = frame.shape[1] - 2
    seconds = elapsed()
    tech_spec = _technical_only_spec()
    sample = market.bars[market.bars["symbol"].isin(market.bars["symbol"].unique()[:10])]
    with timer() as tech_time:
        tech_rows = sum(len(f) for f in iter_features(sample, tech_spec))
    return {
        "batch_symbols": symbols,
        "batch_days": days,
        "batch_rows": rows,
        "batch_feature_columns": columns,
        "batch_seconds": round(seconds, 2),
        "batch_rows_per_s": round(rows / seconds),
        "batch_technical_only_rows_per_s": round(tech_rows / tech_time()),
        "batch_peak_rss_mib": round(peak_rss_mib(), 1),
        "batch_peak_rss_before_features_mib": round(rss_before, 1),
        "simulate_seconds": round(sim_time(), 2),
    }


def run() -> dict[str, Any]:
    symbols = int(os.environ.get("BENCH_FEATURES_SYMBOLS", "100"))
    days = int(os.environ.get("BENCH_FEATURES_DAYS", "60"))
    stream = int(os.environ.get("BENCH_FEATURES_STREAM", "1170"))
    figures = online_figures(stream)
    figures.update(batch_figures(symbols, days))
    figures["numpy"] = np.__version__
    figures["pandas"] = pd.__version__
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
