"""The HTTP retrieval API through its ASGI app, in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import httpx
import pytest

from bentos.signal_service.signals_api import HistoryOut, SignalOut, create_app
from signal_pipeline.signals.store import SignalStore

from .conftest import make_signal

NOW = datetime.now(UTC).replace(microsecond=0)


pytestmark = pytest.mark.anyio


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def _client(store: SignalStore) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=create_app(store))
    return httpx.AsyncClient(transport=transport, base_url="http://signals.test")


@pytest.fixture
async def client(store: SignalStore) -> AsyncIterator[httpx.AsyncClient]:
    signals = [
        make_signal(
            symbol=("AAPL", "MSFT")[i % 2], confidence=0.5 + i * 0.02, minutes=i, model_version="v1"
        )
        for i in range(20)
    ]
    live = make_signal(symbol="AAPL", signal_type="SELL", confidence=0.9, ttl_minutes=60).replace(
        created_at=NOW, expires_at=NOW + timedelta(hours=1), idempotency_key=None
    )
    store.write([*signals, live])
    async with _client(store) as c:
        yield c


async def test_latest(client: httpx.AsyncClient) -> None:
    body = (await client.get("/latest")).json()
    assert {s["symbol"]: s["signal_type"] for s in body} == {"AAPL": "SELL", "MSFT": "BUY"}
    for item in body:  # bodies match the documented response model
        assert SignalOut.model_validate(item).model_dump(mode="json")["id"] == item["id"]
    one = (await client.get("/latest/MSFT")).json()
    assert one["symbol"] == "MSFT" and one["created_at"].startswith("2024-03-04T15:19")
    assert (await client.get("/latest", params={"symbol": ["MSFT"]})).json()[0]["symbol"] == "MSFT"
    assert (await client.get("/latest/NOPE")).status_code == 404


async def test_history_pagination_and_filters(client: httpx.AsyncClient) -> None:
    seen, cursor = [], None
    while True:
        params = {"symbol": "AAPL", "limit": 3, **({"cursor": cursor} if cursor else {})}
        page = (await client.get("/history", params=params)).json()
        HistoryOut.model_validate(page)
        seen += page["signals"]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 11 and all(s["symbol"] == "AAPL" for s in seen)
    assert [s["created_at"] for s in seen] == sorted((s["created_at"] for s in seen), reverse=True)
    high = (
        await client.get("/history", params={"min_confidence": 0.8, "signal_type": "BUY"})
    ).json()["signals"]
    assert high and all(s["confidence"] >= 0.8 and s["signal_type"] == "BUY" for s in high)
    assert (await client.get("/history", params={"limit": 10_000})).status_code == 422
    bad = await client.get("/history", params={"cursor": "garbage"})
    assert bad.status_code == 400 and "cursor" in bad.json()["detail"]


async def test_active_and_executed(client: httpx.AsyncClient) -> None:
    active = (await client.get("/active")).json()
    assert [s["signal_type"] for s in active] == ["SELL"]  # the 2024 signals expired long ago
    sid = active[0]["id"]
    changed = (await client.put(f"/{sid}/executed", json={"executed": True})).json()
    assert changed["executed"] is True
    assert (await client.get("/active")).json() == []
    assert (await client.get(f"/{sid}")).json()["executed"] is True
    assert (await client.put("/999999/executed", json={"executed": True})).status_code == 404


async def test_openapi_documents_routes(client: httpx.AsyncClient) -> None:
    paths = (await client.get("/openapi.json")).json()["paths"]
    assert {
        "/latest",
        "/latest/{symbol}",
        "/history",
        "/active",
        "/{signal_id}",
        "/{signal_id}/executed",
    } <= set(paths)


async def test_unreachable_database_is_503(tmp_path) -> None:
    store = SignalStore(
        "postgresql://nobody@127.0.0.1:1/none", connect_timeout=1, outbox_dir=tmp_path
    )
    async with _client(store) as c:
        response = await c.get("/latest")
    assert response.status_code == 503 and "127.0.0.1:1" in response.json()["detail"]
