"""The service's ASGI app in-process (BentoML's app with both mounted FastAPI apps):
status codes and messages of every bad input, readiness, metrics, OpenAPI."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from bentos.signal_service.schemas import MAX_BARS, MAX_SYMBOLS
from bentos.signal_service.service import SignalService

from .conftest import Champion, request_body


@pytest.fixture(scope="module")
def client(champion: Champion) -> Iterator[TestClient]:
    with TestClient(SignalService.to_asgi(), raise_server_exceptions=False) as c:
        yield c


@pytest.fixture(scope="module")
def body(champion: Champion) -> dict[str, Any]:
    return request_body(champion.trained.bars, "AAA", 300)


def test_ready_and_model(client: TestClient, champion: Champion) -> None:
    assert client.get("/readyz").status_code == 200
    model = client.get("/model").json()
    assert model["champion"]["version"] == champion.version
    assert model["champion"]["aliases"] == ["champion"]


def test_signal_and_cache_hit(client: TestClient, body: dict[str, Any], champion: Champion) -> None:
    first = client.post("/signal", json=body)
    assert first.status_code == 200, first.text
    data = first.json()
    assert data["signal"]["symbol"] == "AAA"
    assert data["signal"]["signal_type"] in ("BUY", "SELL", "HOLD")
    assert data["signal"]["model_version"] == f"signal-ensemble/{champion.version}"
    again = client.post("/signal", json=body).json()
    assert again["from_cache"] is True and again["proba"] == data["proba"]
    assert again["emitted"] is False and again["signal"] == data["signal"]
    # the same content written differently misses the body cache, hits the engine's
    spaced = client.post("/signal", content=json.dumps(body, indent=2),
                         headers={"content-type": "application/json"}).json()  # fmt: skip
    assert spaced["from_cache"] is True and spaced["proba"] == data["proba"]


def test_body_cache_replays_only_for_the_serving_model(
    client: TestClient, body: dict[str, Any]
) -> None:
    from bentos.signal_service.live_api import app as live_app
    from bentos.signal_service.service import BodyCache

    service = live_app.state.service
    raw = json.dumps(body).encode()
    assert client.post("/signal", content=raw,
                       headers={"content-type": "application/json"}).status_code == 200  # fmt: skip
    replayed = service.signal_from_body(raw)
    assert replayed is not None and replayed["from_cache"] is True
    version, as_of, answer = service.bodies.get(raw)
    assert version == replayed["signal"]["model_version"]
    service.bodies.put(raw, "signal-ensemble/0", as_of, answer, 30.0)  # another model's
    assert service.signal_from_body(raw) is None
    assert service.signal_from_body(b'{"other": "body"}') is None

    cache = BodyCache(maxsize=2)
    cache.put(b"a", "v", None, answer, ttl=0.0)  # no lifetime: not kept
    assert cache.get(b"a") is None
    for key in (b"a", b"b", b"c"):
        cache.put(key, "v", None, answer, ttl=30.0)
    assert cache.get(b"a") is None and cache.get(b"c") is not None  # oldest evicted


def _mutate(body: dict[str, Any], how: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    bars = out["bars"]
    if how == "no_bars":
        out["bars"] = []
    elif how == "nan":
        bars[10]["close"] = float("nan")
    elif how == "string_price":
        bars[10]["close"] = "abc"
    elif how == "negative_price":
        bars[10]["low"] = -1.0
    elif how == "unsorted":
        bars[10], bars[11] = bars[11], bars[10]
    elif how == "duplicate":
        bars[11]["ts"] = bars[10]["ts"]
    elif how == "unknown_field":
        out["colour"] = "red"
    elif how == "unknown_bar_field":
        bars[0]["colour"] = "red"
    elif how == "bad_symbol":
        out["symbol"] = "aapl; drop"
    elif how == "high_below_low":
        bars[10]["high"] = bars[10]["low"] / 2
    elif how == "too_few_bars":
        out["bars"] = bars[-5:]
    elif how == "stale":
        out["as_of"] = "2030-01-01T00:00:00+00:00"
    return out


# the message must name what is wrong
CASES = {
    "no_bars": (422, "bars"),
    "nan": (422, "close"),
    "string_price": (422, "close"),
    "negative_price": (422, "low"),
    "unsorted": (422, "increasing"),
    "duplicate": (422, "increasing"),
    "unknown_field": (422, "colour"),
    "unknown_bar_field": (422, "colour"),
    "bad_symbol": (422, "symbol"),
    "high_below_low": (422, "low <= open"),
    "too_few_bars": (422, "min_bars"),
    "stale": (422, "bars"),
}


@pytest.mark.parametrize("how", sorted(CASES))
def test_bad_input_is_4xx_with_message(client: TestClient, body: dict[str, Any], how: str) -> None:
    status, needle = CASES[how]
    reply = client.post(
        "/signal",
        content=json.dumps(_mutate(body, how)),
        headers={"content-type": "application/json"},
    )
    assert reply.status_code == status, reply.text
    error = reply.json()["error"]
    assert needle in error
    assert "Traceback" not in reply.text


def test_wrong_json_types(client: TestClient) -> None:
    assert client.post("/signal", json=["not", "an", "object"]).status_code == 422
    reply = client.post(
        "/signal", content=b"{not json", headers={"content-type": "application/json"}
    )
    assert reply.status_code == 422


def test_oversized_payloads_are_413(client: TestClient, body: dict[str, Any]) -> None:
    many = dict(body, bars=body["bars"] * (MAX_BARS // len(body["bars"]) + 1))
    reply = client.post("/signal", json=many)
    assert reply.status_code == 413 and "bars" in reply.json()["error"]
    big = client.post(
        "/signal", content=b" " * (9 * 1024 * 1024), headers={"content-type": "application/json"}
    )
    assert big.status_code == 413
    batch = {"requests": [dict(body, symbol=f"S{i}") for i in range(MAX_SYMBOLS + 1)]}
    assert client.post("/signal/batch", json=batch).status_code == 413


def test_batch_over_http(client: TestClient, champion: Champion) -> None:
    bodies = [request_body(champion.trained.bars, s, 300) for s in ("AAA", "BBB")]
    out = client.post("/signal/batch", json={"requests": bodies})
    assert out.status_code == 200
    assert [r["ok"] for r in out.json()["results"]] == [True, True]
    dup = client.post("/signal/batch", json={"requests": [bodies[0], bodies[0]]})
    assert dup.status_code == 422 and "twice" in dup.json()["error"]


def test_metrics_and_openapi(client: TestClient) -> None:
    metrics = client.get("/metrics")
    assert metrics.status_code == 200
    assert "signal_predictions_total" in metrics.text
    assert "feature_ks{" in metrics.text
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/signal", "/signal/batch", "/signal/stream", "/model"} <= set(paths)
    assert client.get("/signals/openapi.json").status_code == 200


def test_stream_over_http(client: TestClient, champion: Champion) -> None:
    body = request_body(champion.trained.bars, "BBB", 302)
    first = client.post(
        "/signal/stream",
        json={
            "symbol": "BBB",
            "history": body["bars"][:-2],
            "bar": body["bars"][-2],
            "as_of": body["as_of"],
        },
    )
    assert first.status_code == 200, first.text
    nxt = client.post(
        "/signal/stream", json={"symbol": "BBB", "bar": body["bars"][-1], "as_of": body["as_of"]}
    )
    assert nxt.status_code == 200
    assert nxt.json()["signal"]["created_at"] > first.json()["signal"]["created_at"]
    cold = client.post(
        "/signal/stream", json={"symbol": "ZZZ", "bar": body["bars"][-1], "as_of": body["as_of"]}
    )
    assert cold.status_code == 422 and "warm_start" in cold.json()["error"]


def test_quote_is_used_and_checked(client: TestClient, body: dict[str, Any]) -> None:
    close = body["bars"][-1]["close"]
    wide = {"bid": close * 0.9, "ask": close * 1.1, "bid_size": 100, "ask_size": 100}
    reply = client.post("/signal", json={**body, "quote": wide})
    assert reply.status_code == 200, reply.text
    data = reply.json()
    # a 20 % spread is far beyond max_spread: any BUY/SELL is filtered to HOLD
    assert data["signal"]["signal_type"] == "HOLD"
    if data["signal"]["features"]["_raw_signal"] != "HOLD":
        assert any("spread" in f for f in data["filtered_by"])
    bad = client.post("/signal", json={**body, "quote": {**wide, "ask": -1}})
    assert bad.status_code == 422 and "quote.ask" in bad.json()["error"]


def test_answers_match_the_documented_response_schema(
    client: TestClient, body: dict[str, Any]
) -> None:
    from bentos.signal_service.schemas import SignalResponse

    data = client.post("/signal", json=body).json()
    parsed = SignalResponse.model_validate(data)
    assert set(data["signal"]) == set(type(parsed.signal).model_fields)


def _chain_rows(chain: Any) -> list[dict[str, Any]]:
    rows = []
    for r in chain.to_dict("records"):
        row = {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        row.pop("symbol")
        rows.append(row)
    return rows


def test_option_chain_over_http(client: TestClient, body: dict[str, Any]) -> None:
    """The chain's JSON becomes the option-chain contract frame the engine validates;
    bad contracts are 422s naming the field or the contract rule."""
    import pandas as pd

    from bentos.signal_service.schemas import SignalRequest
    from signal_pipeline.data import simulate_market
    from signal_pipeline.data.validation import validate_option_chains

    chains = simulate_market(["AAA"], 1, seed=7).option_chains
    last = pd.Timestamp(body["bars"][-1]["ts"])
    chain = chains.assign(ts=last, expiry=chains["expiry"] + (last - chains["ts"]))
    rows = _chain_rows(chain)
    frame = SignalRequest.model_validate({**body, "option_chain": rows}).chain_frame()
    expected = validate_option_chains(chain)
    pd.testing.assert_frame_equal(frame[list(expected.columns)], expected, check_exact=True)
    without_ts = [{k: v for k, v in r.items() if k != "ts"} for r in rows]
    assert (
        SignalRequest.model_validate({**body, "option_chain": without_ts})
        .chain_frame()["ts"]
        .eq(last)
        .all()
    )

    ok = client.post("/signal", json={**body, "option_chain": rows})
    assert ok.status_code == 200, ok.text
    bad_field = client.post("/signal", json={**body, "option_chain": [{**rows[0], "strike": -1}]})
    assert bad_field.status_code == 422 and "option_chain" in bad_field.json()["error"]
    bad_rule = client.post("/signal", json={**body, "option_chain": [{**rows[0], "ask": 0.0}]})
    assert bad_rule.status_code == 422 and "non_positive_price" in bad_rule.json()["error"]
    streamed = client.post("/signal/stream", json={
        "symbol": "AAA", "history": body["bars"][:-1], "bar": body["bars"][-1],
        "option_chain": without_ts, "as_of": body["as_of"],
    })  # fmt: skip
    assert streamed.status_code == 200, streamed.text
