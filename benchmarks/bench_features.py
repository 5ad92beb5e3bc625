"""Feature engineering speed: online update latency and throughput, cache savings, what one
timeframe block of indicators costs, and the batch table for many symbols (time, rows/s,
peak memory). Latencies and rates come as wall-clock figures and as CPU-time figures
(``*_cpu_*``): on shared cores the wall clock also counts the time other jobs hold the
core, the CPU time only this engine's work.

Sizes can be reduced for a quick look with BENCH_FEATURES_SYMBOLS / BENCH_FEATURES_DAYS
(defaults 100 and 60, the issue's figures) and BENCH_FEATURES_STREAM (bars streamed
online, default 1,170 = 3 sessions); BENCH_FEATURES_WORKERS (default 2) sets the process
count of the parallel batch figures (``batch_workers<n>_*``; 1 skips them).
"""

from __future__ import annotations

import os
import resource
import time
from typing import Any

import numpy as np
import pandas as pd
import psutil

from benchmarks._util import peak_rss_mib, percentiles_ms, timer
from signal_pipeline.data import simulate_market
from signal_pipeline.features import OnlineFeatureEngine, load_feature_spec
from signal_pipeline.features.pipeline import compute_features, iter_features

TECHNICAL_ONLY = {"microstructure": {"enabled": False}, "options": {"enabled": False}}


def _technical_only_spec() -> Any:
    import yaml

    from signal_pipeline.features.spec import DEFAULT_SPEC_PATH

    raw = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    return load_feature_spec({**raw, **TECHNICAL_ONLY})


def _stream(
    engine: OnlineFeatureEngine, records: list[tuple], cpu: list[float] | None = None
) -> list[float]:
    """Wall-clock seconds per update; ``cpu`` collects this thread's CPU seconds per update
    too, which other jobs on the shared cores do not inflate (wall time under a load of 4-5
    on 2 cores stretches a 2 ms update to 5-8 ms)."""
    samples = []
    for bar, quote, chain in records:
        start, start_cpu = time.perf_counter(), time.thread_time()
        engine.update(bar, chain=chain, quote=quote)
        samples.append(time.perf_counter() - start)
        if cpu is not None:
            cpu.append(time.thread_time() - start_cpu)
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
    full_cpu: list[float] = []
    full = _stream(engine, records, full_cpu)
    out["online_features_per_row"] = len(engine.latest("AAA"))
    out.update({f"online_full_{k}": v for k, v in percentiles_ms(full).items()})
    out["online_full_updates_per_s_one_core"] = round(len(full) / sum(full), 1)
    out.update({f"online_full_cpu_{k}": v for k, v in percentiles_ms(full_cpu).items()})
    out["online_full_updates_per_cpu_s"] = round(len(full_cpu) / sum(full_cpu), 1)
    stats = engine.cache_stats
    out["cache_saved_share_of_feature_columns"] = round(stats["saved_share"], 4)
    out["online_buffer_bars_1m"] = engine.buffer_lengths()["1m"]

    tech = OnlineFeatureEngine(_technical_only_spec())
    tech.warm_start(bars.iloc[:cut])
    tech_cpu: list[float] = []
    tech_samples = _stream(tech, [(b, None, None) for b, _, _ in records], tech_cpu)
    out.update({f"online_technical_only_{k}": v for k, v in percentiles_ms(tech_samples).items()})
    out["online_technical_only_updates_per_s_one_core"] = round(
        len(tech_samples) / sum(tech_samples), 1
    )
    out.update({f"online_technical_only_cpu_{k}": v for k, v in percentiles_ms(tech_cpu).items()})

    # The path before the streaming kernels: every indicator recomputed by TA-Lib on its
    # trailing memory window at each close (OnlineFeatureEngine(kernels=False)).
    window = OnlineFeatureEngine(kernels=False)
    window.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                      option_chains=chains[chains["ts"] <= warm_end])  # fmt: skip
    window_cpu: list[float] = []
    _stream(window, records, window_cpu)
    out.update({f"online_window_recompute_cpu_{k}": v
                for k, v in percentiles_ms(window_cpu).items()})  # fmt: skip

    # The cache's worth in time: the same stream with every block recomputed from the
    # buffers on every bar (kernels re-warmed from a fresh state each time).
    n = min(100, len(records))
    nocache = OnlineFeatureEngine(cache=False)
    nocache.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                       option_chains=chains[chains["ts"] <= warm_end])  # fmt: skip
    slow = _stream(nocache, records[:n])
    out["cache_saved_share_of_time"] = round(1.0 - sum(full[:n]) / sum(slow), 4)
    out["online_no_cache_p50_ms"] = percentiles_ms(slow)["p50_ms"]
    out.update(block_figures(bars, quotes, chains, cut, records))
    return out


def block_figures(bars: pd.DataFrame, quotes: pd.DataFrame, chains: pd.DataFrame, cut: int,
                  records: list[tuple]) -> dict[str, Any]:  # fmt: skip
    """What one timeframe block costs the online engine when its bar closes (kernels
    stepped, indicators without a kernel recomputed, the microstructure row): the mean
    CPU time of the engine's block computation per timeframe over the stream, and how
    many of the spec's indicator entries run as streaming kernels."""
    engine = OnlineFeatureEngine()
    engine.warm_start(bars.iloc[:cut], quotes=quotes.iloc[:cut],
                      option_chains=chains[chains["ts"] <= bars["ts"].iloc[cut - 1]])  # fmt: skip
    spent: dict[str, list[float]] = {}
    compute_tf = engine._compute_tf

    def timed(state: Any, tf: Any) -> None:
        start = time.thread_time()
        compute_tf(state, tf)
        spent.setdefault(tf.name, []).append(time.thread_time() - start)

    engine._compute_tf = timed  # type: ignore[method-assign]
    _stream(engine, records)
    out: dict[str, Any] = {}
    for tf, samples in spent.items():
        out[f"online_block_{tf}_cpu_mean_ms"] = round(1000.0 * float(np.mean(samples)), 4)
        out[f"online_block_{tf}_count"] = len(samples)
    spec = engine.spec
    entries = [d for tf in spec.timeframes for d in spec.technical[tf]]
    out["online_indicator_entries"] = len(entries)
    out["online_indicator_entries_with_kernel"] = sum(
        d.indicator in engine._kernel_names for d in entries
    )
    return out


def _children_cpu_seconds() -> float:
    """CPU seconds of this process's finished children (the pool's, once it has exited)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _children_rss_mib() -> list[float]:
    """Resident memory of each live child now. (``RUSAGE_CHILDREN``'s peak is no use
    here: Linux records a spawned child's peak at its exec, while it still shares the
    parent's pages, so it reports the parent's size.)"""
    out = []
    for child in psutil.Process().children(recursive=True):
        try:
            out.append(child.memory_info().rss / 2**20)
        except psutil.NoSuchProcess:
            continue
    return out


def pooled_figures(market: Any, workers: int) -> dict[str, Any]:
    """The batch on ``workers`` processes (``iter_features(workers=...)``); run before the
    serial batch so that the parent's peak RSS is this run's, not the serial one's. The
    parent's RSS counts a frame's pages (shared memory) only once it reads them; here
    only the row count is read, as in the serial figures."""
    rows = 0
    first_frame = None
    child_rss: list[float] = [0.0]
    children_cpu_start = _children_cpu_seconds()
    cpu_start = time.process_time()
    with timer() as elapsed:
        for frame in iter_features(market.bars, option_chains=market.option_chains,
                                   quotes=market.quotes, workers=workers):  # fmt: skip
            first_frame = first_frame if first_frame is not None else elapsed()
            rows += len(frame)
            child_rss.extend(_children_rss_mib())
    seconds = elapsed()
    parent_cpu = time.process_time() - cpu_start
    children_cpu = _children_cpu_seconds() - children_cpu_start
    key = f"batch_workers{workers}"
    return {
        f"{key}_seconds": round(seconds, 2),
        f"{key}_rows_per_s": round(rows / seconds),
        f"{key}_first_frame_s": round(first_frame or 0.0, 2),
        f"{key}_parent_cpu_seconds": round(parent_cpu, 2),
        f"{key}_children_cpu_seconds": round(children_cpu, 2),
        f"{key}_rows_per_cpu_s": round(rows / (parent_cpu + children_cpu)),
        f"{key}_parent_peak_rss_mib": round(peak_rss_mib(), 1),
        f"{key}_child_rss_max_sampled_mib": round(max(child_rss), 1),
    }


def single_request_figures(history: int = 300, repeats: int = 101) -> dict[str, Any]:
    """``compute_features`` on ONE symbol's last ``history`` 1-minute bars with the quote
    at the last bar and the latest option chain, default spec: what the signal service
    computes per request. CPU time per call (the shared cores inflate wall time)."""
    market = simulate_market(["AAA"], -(-history // 390) + 1, seed=17)
    bars = market.bars.iloc[-history:].reset_index(drop=True)
    last = bars["ts"].iloc[-1]
    quote = market.quotes[market.quotes["ts"] == last].reset_index(drop=True)
    chains = market.option_chains[market.option_chains["ts"] <= last]
    chain = chains[chains["ts"] == chains["ts"].max()].reset_index(drop=True)
    spec = load_feature_spec()
    key = f"batch_one_symbol_{history}_bars"
    out: dict[str, Any] = {}
    for name, kwargs in (("", {"quotes": quote, "option_chains": chain}), ("_bars_only", {})):
        columns = compute_features(bars, spec, **kwargs).shape[1] - 2  # warm
        cpu = []
        for _ in range(repeats):
            start = time.thread_time()
            compute_features(bars, spec, **kwargs)
            cpu.append(time.thread_time() - start)
        out.update({f"{key}{name}_cpu_{k}": v for k, v in percentiles_ms(cpu).items()})
        out[f"{key}{name}_columns"] = columns
    return out


def batch_figures(symbols: int, days: int, workers: int) -> dict[str, Any]:
    with timer() as sim_time:
        market = simulate_market(symbols, days, seed=5)
    rss_before = peak_rss_mib()
    pooled = pooled_figures(market, workers) if workers > 1 else {}
    rows, columns = 0, 0
    cpu_start = time.process_time()  # the batch is single-threaded: CPU s = one core's s
    with timer() as elapsed:
        for frame in iter_features(market.bars, option_chains=market.option_chains,
                                   quotes=market.quotes):  # fmt: skip
            rows += len(frame)
            columns = frame.shape[1] - 2
    seconds = elapsed()
    cpu_seconds = time.process_time() - cpu_start
    tech_spec = _technical_only_spec()
    sample = market.bars[market.bars["symbol"].isin(market.bars["symbol"].unique()[:10])]
    with timer() as tech_time:
        tech_rows = sum(len(f) for f in iter_features(sample, tech_spec))
    figures = {
        "batch_symbols": symbols,
        "batch_days": days,
        "batch_rows": rows,
        "batch_feature_columns": columns,
        "batch_seconds": round(seconds, 2),
        "batch_rows_per_s": round(rows / seconds),
        "batch_cpu_seconds": round(cpu_seconds, 2),
        "batch_rows_per_cpu_s": round(rows / cpu_seconds),
        "batch_technical_only_rows_per_s": round(tech_rows / tech_time()),
        "batch_peak_rss_mib": round(peak_rss_mib(), 1),
        "batch_peak_rss_before_features_mib": round(rss_before, 1),
        "simulate_seconds": round(sim_time(), 2),
    }
    figures.update(pooled)
    figures.update(single_request_figures())
    if pooled:
        figures[f"batch_workers{workers}_speedup_vs_serial"] = round(
            seconds / pooled[f"batch_workers{workers}_seconds"], 2
        )
    return figures


def run() -> dict[str, Any]:
    symbols = int(os.environ.get("BENCH_FEATURES_SYMBOLS", "100"))
    days = int(os.environ.get("BENCH_FEATURES_DAYS", "60"))
    stream = int(os.environ.get("BENCH_FEATURES_STREAM", "1170"))
    workers = int(os.environ.get("BENCH_FEATURES_WORKERS", "2"))
    figures = online_figures(stream)
    figures.update(batch_figures(symbols, days, workers))
    figures["numpy"] = np.__version__
    figures["pandas"] = pd.__version__
    return figures


if __name__ == "__main__":
    import json

    print(json.dumps(run(), indent=2))
