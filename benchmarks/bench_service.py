"""HTTP end-to-end latency of the live-signal service: a real ``bentoml serve`` on
127.0.0.1 and an open-loop load generator (httpx, threads) on the same machine.

The model is the one ``bench_inference`` measures (spec-size XGBoost, random forest and
LSTM on the packaged 1-minute feature spec), registered as ``champion`` in a temporary
MLflow store that the server loads at start. Every request carries 300 bars; the
cache-miss runs send a different 300-bar window (of three symbols) each time, none
sent in the previous 30 s (the server's cache lifetime), so no request is a cache hit;
the cache-hit run repeats one body.

Latency is measured from each request's *scheduled* send time to its response, so a
server that falls behind shows its queueing (no coordinated omission).

Figures:

- ``http_p50/p95/p99_ms``: single-symbol requests at ``RATE`` requests/s for
  ``DURATION_S`` seconds (target p95 <= 20 ms), ``http_errors``;
- ``sequential_p50/p95/p99_ms``: one request at a time (no queueing: the service's own
  latency on this machine);
- ``cache_hit_p50/p95/p99_ms``: the same body repeated (after one priming request) at
  ``RATE`` requests/s; ``cache_hit_sequential_*``: the same, one request at a time;
- ``max_sustained_rps``: the largest rate of the step-up (``STEPS``, ``STEP_S`` seconds
  each) answered with no errors and a p95 under 0.5 s (an overloaded server queues, and the
  wait shows in latencies measured from the due times); ``step_<rate>_p95_ms`` /
  ``_errors`` / ``_achieved_rps`` for each step run;
- ``server_cpu_ms_per_request`` / ``client_cpu_ms_per_request``: CPU time (user + system)
  of the server processes and of the load generator during the ``http_*`` run, per
  request; ``sequential_server_cpu_ms_per_request`` the same for the sequential run. The
  machine is shared, so these say more than wall times about the service's own cost.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import pandas as pd
import psutil
import yaml

from benchmarks._util import percentiles_ms
from bentos.signal_service.background import serving

RATE = 50.0
DURATION_S = 15.0
HISTORY = 300
STEPS = (50, 75, 100, 150, 200, 300)
STEP_S = 5.0
MAX_STEP_P95_S = 0.5
READY_TIMEOUT_S = 180.0
WORKERS = 64  # client threads
WORKER_PROCESSES = min(os.cpu_count() or 1, 4)  # server workers


def _register_champion(tmp: Path) -> tuple[str, pd.DataFrame]:
    """Train the bench_inference model, register it as champion; (tracking URI, bars)."""
    import mlflow

    from benchmarks.bench_inference import _spec
    from signal_pipeline.data import simulate_market
    from signal_pipeline.features import compute_features
    from signal_pipeline.labels import triple_barrier_labels
    from signal_pipeline.models import train_ensemble
    from signal_pipeline.registry.aliases import register_version, set_alias
    from signal_pipeline.registry.pyfunc import input_example, log_ensemble_model
    from signal_pipeline.registry.tracking import configure_tracking, ensure_experiment

    spec = _spec()
    market = simulate_market(["AAA", "BBB", "CCC"], 5, seed=11, option_chains=False)
    features = compute_features(market.bars, spec)
    labels = triple_barrier_labels(market.bars)
    config = {
        "xgboost": {"n_jobs": 1},
        "random_forest": {"n_jobs": 1},
        "lstm": {"epochs": 1, "device": "cpu"},
        "cv": {"n_splits": 2},
    }
    trained = train_ensemble(features, labels, config=config, progress=False)
    folder = trained.save(tmp / "ensemble")
    uri = configure_tracking(f"sqlite:///{tmp / 'mlflow.db'}")
    ensure_experiment(artifact_root=tmp / "mlartifacts")
    spec_file = tmp / "feature_spec.yaml"
    spec_file.write_text(yaml.safe_dump(_raw_spec()))
    with mlflow.start_run() as run:
        mlflow.log_artifact(str(spec_file))
    info = log_ensemble_model(
        folder, input_example(features, list(trained.feature_names)), run_id=run.info.run_id
    )
    version = register_version(info.model_uri, {"bench": "service"}, run_id=run.info.run_id)
    set_alias(version.version, "champion", "service benchmark")
    return uri, market.bars


def _raw_spec() -> dict[str, Any]:
    """The raw mapping of bench_inference's spec (the YAML the server loads)."""
    from signal_pipeline.features.spec import DEFAULT_SPEC_PATH

    raw = yaml.safe_load(DEFAULT_SPEC_PATH.read_text())
    raw["timeframes"] = ["1m"]
    raw["overrides"] = {}
    raw["microstructure"]["timeframes"] = ["1m"]
    raw["microstructure"]["overrides"] = {}
    raw["options"] = {"enabled": False}
    return raw


def _bodies(bars: pd.DataFrame, symbol: str = "AAA") -> list[bytes]:
    """One JSON body per distinct 300-bar window of ``symbol``, judged just after it."""
    own = bars[bars["symbol"] == symbol].reset_index(drop=True)
    cols = ["ts", "open", "high", "low", "close", "volume"]
    rows = [
        {"ts": ts.isoformat(), "open": o, "high": h, "low": lo, "close": c, "volume": v}
        for ts, o, h, lo, c, v in own[cols].itertuples(index=False)
    ]
    out = []
    for end in range(HISTORY, len(rows) + 1):
        window = rows[end - HISTORY : end]
        as_of = (pd.Timestamp(window[-1]["ts"]) + pd.Timedelta(minutes=1)).isoformat()
        out.append(json.dumps({"symbol": symbol, "bars": window, "as_of": as_of}).encode())
    return out


def _server_cpu_s() -> float:
    """CPU seconds used so far by this process's children (the server and its workers)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:  # a process that ended meanwhile
            continue
        total += times.user + times.system
    return total


def _own_cpu_s() -> float:
    times = os.times()
    return times.user + times.system


def _load(base: str, bodies: list[bytes], rate: float, duration: float) -> dict[str, Any]:
    """Open-loop: request i is due at start + i/rate; latency from its due time."""
    n = int(rate * duration)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()
    client = httpx.Client(timeout=10.0, limits=httpx.Limits(max_connections=WORKERS))
    start = time.perf_counter() + 0.2

    def one(i: int) -> None:
        due = start + i / rate
        delay = due - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        try:
            reply = client.post(
                f"{base}/signal",
                content=bodies[i % len(bodies)],
                headers={"content-type": "application/json"},
            )
            ok = reply.status_code == 200
            err = None if ok else f"{reply.status_code}: {reply.text[:200]}"
        except httpx.HTTPError as exc:
            err = f"{type(exc).__name__}: {exc}"
        done = time.perf_counter()
        with lock:
            if err is None:
                latencies.append(done - due)
            else:
                errors.append(err)

    with ThreadPoolExecutor(max_workers=WORKERS) as pool:
        list(pool.map(one, range(n)))
    elapsed = time.perf_counter() - start
    client.close()
    return {
        "latencies": latencies,
        "errors": errors,
        "achieved_rps": len(latencies) / elapsed if elapsed > 0 else 0.0,
    }


def _sequential(base: str, bodies: list[bytes]) -> list[float]:
    """Closed loop, one request at a time: the latency of an idle server."""
    out = []
    with httpx.Client(timeout=10.0) as client:
        for body in bodies:
            start = time.perf_counter()
            reply = client.post(
                f"{base}/signal", content=body, headers={"content-type": "application/json"}
            )
            reply.raise_for_status()
            out.append(time.perf_counter() - start)
    return out


def run() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="bench-service-") as name:
        tmp = Path(name)
        uri, bars = _register_champion(tmp)
        # Windows of the three symbols, interleaved: enough distinct bodies that the step
        # runs never resend a body still in the server's signal cache (30 s).
        per_symbol = [_bodies(bars, symbol) for symbol in ("AAA", "BBB", "CCC")]
        bodies = [body for trio in zip(*per_symbol, strict=False) for body in trio]
        env = {
            **os.environ,
            "SIGNAL_PIPELINE_HOME": str(tmp / "home"),
            "MLFLOW_TRACKING_URI": uri,
            "SIGNAL_PIPELINE_SIGNALS_DB": f"sqlite:///{tmp / 'signals.db'}",
            "SIGNAL_PIPELINE_MONITOR_SNAPSHOT_S": "0",
            "BENTOML_HOME": str(tmp / "bentoml"),
            # one worker process per core of this machine unless told otherwise
            "SIGNAL_PIPELINE_SERVICE_WORKERS": os.environ.get(
                "SIGNAL_PIPELINE_SERVICE_WORKERS", str(WORKER_PROCESSES)
            ),
        }
        env.pop("SIGNAL_PIPELINE_REDIS_URL", None)  # the in-process cache
        with serving(env, tmp / "bentoml.log", ready_timeout_s=READY_TIMEOUT_S) as base:
            # warm-up: lazy imports, thread pools (bodies past the measured ones)
            _load(base, bodies[-50:], 10, 2)
            server_cpu = _server_cpu_s()
            sequential = _sequential(base, bodies[-300:-50])  # 250 requests
            sequential_cpu = _server_cpu_s() - server_cpu
            server_cpu, client_cpu = _server_cpu_s(), _own_cpu_s()
            main = _load(base, bodies, RATE, DURATION_S)
            server_cpu, client_cpu = _server_cpu_s() - server_cpu, _own_cpu_s() - client_cpu
            n_main = max(1, len(main["latencies"]) + len(main["errors"]))
            out: dict[str, Any] = {
                "history_bars": HISTORY,
                "server_workers": int(env["SIGNAL_PIPELINE_SERVICE_WORKERS"]),
                "rate_rps": RATE,
                "duration_s": DURATION_S,
                "requests": len(main["latencies"]) + len(main["errors"]),
                "http_errors": len(main["errors"]),
                "achieved_rps": round(main["achieved_rps"], 2),
                "server_cpu_ms_per_request": round(server_cpu * 1000 / n_main, 3),
                "client_cpu_ms_per_request": round(client_cpu * 1000 / n_main, 3),
                "sequential_server_cpu_ms_per_request": round(
                    sequential_cpu * 1000 / max(1, len(sequential)), 3
                ),
            }
            out.update({f"http_{k}": v for k, v in percentiles_ms(main["latencies"]).items()})
            out.update({f"sequential_{k}": v for k, v in percentiles_ms(sequential).items()})
            if main["errors"]:
                out["first_error"] = main["errors"][0]
            hit = [bodies[0]]
            _load(base, hit, 5, 0.4)  # prime the cache
            hits = _load(base, hit, RATE, 5)
            out.update({f"cache_hit_{k}": v for k, v in percentiles_ms(hits["latencies"]).items()})
            # the same, one request at a time on one connection (no client-side queueing)
            seq_hits = _sequential(base, hit * 250)
            out.update({f"cache_hit_sequential_{k}": v
                        for k, v in percentiles_ms(seq_hits).items()})  # fmt: skip
            best = 0
            offset = int(RATE * DURATION_S)  # after the bodies of the http_* run
            for rate in STEPS:
                # fresh windows per step so that no step is served from the cache
                step_bodies = bodies[offset:] + bodies[:offset]
                offset = (offset + int(rate * STEP_S)) % len(bodies)
                res = _load(base, step_bodies, rate, STEP_S)
                p95 = float(np.percentile(res["latencies"], 95)) if res["latencies"] else np.inf
                out[f"step_{rate}_p95_ms"] = round(p95 * 1000, 2)
                out[f"step_{rate}_errors"] = len(res["errors"])
                out[f"step_{rate}_achieved_rps"] = round(res["achieved_rps"], 1)
                # Open loop: a server that cannot keep up queues, and the queue's wait
                # shows in the latency measured from the due times.
                sustained = not res["errors"] and p95 < MAX_STEP_P95_S
                if not sustained:
                    break
                best = rate
            out["max_sustained_rps"] = best
            return out


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
