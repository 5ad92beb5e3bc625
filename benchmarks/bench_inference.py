"""Inference latency: one symbol's signal from 300 bars, streaming updates, cache hits.

The ensemble has the spec's member sizes (XGBoost 100 trees of depth 6, random forest
100 trees of depth 10, LSTM 64 units over 50-row sequences; the LSTM trained one epoch
only: its size, not its quality, sets the latency). Features: the packaged spec on the
1-minute timeframe (technical + microstructure, ~100 columns), whose warm-ups fit in
300 bars; higher timeframes need weeks of history and are served by the streaming path.

Figures (milliseconds, p50/p95/p99 over repeated calls on one core-bound process):

- ``ensemble_*``: the ensemble part of a request, from the feature rows to the Signal
  (member votes, calibration, threshold, filters, levels, reasoning, Signal object);
- ``signal_for_*``: a whole batch request (validation, batch features on 300 bars,
  ensemble), cache off;
- ``features_*``: the batch features alone on those 300 bars;
- ``update_*``: a streaming update (one new bar through the online engine, ensemble);
- ``cache_hit_*``: a repeated request answered from the in-process cache;
- ``member_<name>_*``: each member alone on the rows the engine gives it, called as the
  engine calls it (``predict_last`` for the LSTM: the last row's sequence only,
  ``predict_proba`` otherwise).

``*_cpu_p50_ms`` / ``*_cpu_p95_ms``: the same calls in CPU time of the calling thread
(``time.thread_time``), less sensitive than wall time to other work on a shared machine.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import pandas as pd
import yaml

from benchmarks._util import percentiles_ms, timer
from signal_pipeline.data import simulate_market
from signal_pipeline.features import compute_features, load_feature_spec
from signal_pipeline.features.spec import DEFAULT_SPEC_PATH
from signal_pipeline.inference import SignalEngine
from signal_pipeline.labels import triple_barrier_labels
from signal_pipeline.models import train_ensemble

N_CALLS = 200
HISTORY = 300


def _spec() -> Any:
    raw = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    raw["timeframes"] = ["1m"]
    raw["overrides"] = {}
    raw["microstructure"]["timeframes"] = ["1m"]
    raw["microstructure"]["overrides"] = {}
    raw["options"] = {"enabled": False}
    return load_feature_spec(raw)


_CPU: dict[int, list[float]] = {}  # id of a wall-time sample list -> its CPU times


def _samples(call: Any, n: int = N_CALLS) -> list[float]:
    """Wall times of ``n`` calls; their CPU times are kept in ``_CPU`` (see ``_cpu``)."""
    out, cpu = [], []
    for i in range(n):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call(i)
        cpu.append(time.thread_time() - start_cpu)
        out.append(time.perf_counter() - start)
    _CPU[id(out)] = cpu
    return out


def _cpu(samples: list[float]) -> dict[str, float]:
    figures = percentiles_ms(_CPU[id(samples)])
    return {"cpu_p50_ms": figures["p50_ms"], "cpu_p95_ms": figures["p95_ms"]}


def run() -> dict[str, Any]:
    spec = _spec()
    market = simulate_market(["AAA", "BBB", "CCC"], 5, seed=11, option_chains=False)
    with timer() as elapsed:
        features = compute_features(market.bars, spec, quotes=market.quotes)
        labels = triple_barrier_labels(market.bars)
        # One thread per tree member: with torch loaded, XGBoost's OpenMP pool on all
        # cores is many times slower on a shared machine.
        config = {
            "xgboost": {"n_jobs": 1},
            "random_forest": {"n_jobs": 1},
            "lstm": {"epochs": 1, "device": "cpu"},
            "cv": {"n_splits": 2},
        }
        trained = train_ensemble(features, labels, config=config, progress=False)
    train_s = elapsed()
    engine = SignalEngine(
        trained,
        model_version="bench",
        spec=spec,
        cache=False,
        config={"max_bar_age": None, "dedupe": False},
    )
    bars = market.bars[market.bars["symbol"] == "AAA"].reset_index(drop=True)
    quotes = market.quotes[market.quotes["symbol"] == "AAA"].reset_index(drop=True)
    windows = [
        bars.iloc[end - HISTORY : end].reset_index(drop=True)
        for end in range(len(bars) - 40, len(bars))
    ]

    def last_quote(window: pd.DataFrame) -> pd.DataFrame:
        return quotes[quotes["ts"] == window["ts"].iloc[-1]]

    def request(i: int) -> None:
        window = windows[i % len(windows)]
        engine.infer("AAA", window, quote=last_quote(window))

    def batch_features(i: int) -> None:
        window = windows[i % len(windows)]
        compute_features(window, spec, quotes=last_quote(window))

    request(0)  # first call: lazy imports, thread pools
    full = _samples(request)
    feature_times = _samples(batch_features)
    window = windows[-1]
    table = compute_features(window, spec, quotes=last_quote(window))
    tail = table.iloc[-engine.context_rows :]
    rows = tail[engine.feature_names].to_numpy(np.float64)
    stamps = pd.DatetimeIndex(tail["ts"])
    extra = {
        "close": float(window["close"].iloc[-1]),
        "natr": float(tail["atr_14_1m"].iloc[-1]),
        "spread": None,
    }
    # The ensemble part alone: what a request costs once its feature rows exist.
    ensemble = _samples(lambda i: engine._answer("AAA", stamps, rows, extra))

    # Each member alone on the same rows (what the ensemble figure is made of).
    members = {
        name: _samples(
            lambda i, m=member, k=engine._voter.contexts[name]: (
                getattr(m, "predict_last", None) or m.predict_proba
            )(rows[-k:])
        )
        for name, member in trained.ensemble.members.items()
    }

    cached = SignalEngine(
        trained, model_version="bench", spec=spec, config={"max_bar_age": None, "cache_ttl": 3600}
    )
    quote = last_quote(window)
    cached.infer("AAA", window, quote=quote)
    hits = _samples(lambda i: cached.infer("AAA", window, quote=quote))

    stream = SignalEngine(
        trained,
        model_version="bench",
        spec=spec,
        cache=False,
        config={"max_bar_age": None, "dedupe": False},
    )
    history, live = bars.iloc[: len(bars) - N_CALLS - 1], bars.iloc[len(bars) - N_CALLS - 1 :]
    stream.warm_start(history, quotes=quotes)
    records = live.to_dict("records")
    by_ts = {q["ts"]: q for q in quotes.to_dict("records")}
    stream.update(records[0], quote=by_ts[records[0]["ts"]])
    updates = _samples(lambda i: stream.update(records[i + 1], quote=by_ts[records[i + 1]["ts"]]))

    out: dict[str, Any] = {
        "history_bars": HISTORY,
        "n_features": len(engine.feature_names),
        "members": ",".join(trained.ensemble.members),
        "train_s": round(train_s, 2),
    }
    for name, samples in (
        ("ensemble", ensemble),
        ("signal_for", full),
        ("features", feature_times),
        ("update", updates),
        ("cache_hit", hits),
    ):
        out.update({f"{name}_{k}": v for k, v in percentiles_ms(samples).items()})
        out.update({f"{name}_{k}": v for k, v in _cpu(samples).items()})
    for name, samples in members.items():
        figures = {**percentiles_ms(samples), **_cpu(samples)}
        out.update({f"member_{name}_{k}": figures[k] for k in ("p50_ms", "p95_ms", "cpu_p50_ms")})
    return out
