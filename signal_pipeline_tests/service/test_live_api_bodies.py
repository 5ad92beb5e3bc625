"""The live routes validate bodies from the raw JSON bytes: the OpenAPI still documents
each body's schema, and schema errors keep FastAPI's ``body.<field>`` locations."""

from __future__ import annotations

import json
import re

import pytest
from starlette.testclient import TestClient

from bentos.signal_service.live_api import app


@pytest.fixture(scope="module")
def client() -> TestClient:
    # No service object is needed: these requests fail validation or read the OpenAPI.
    return TestClient(app, raise_server_exceptions=False)


def test_openapi_documents_every_request_body(client: TestClient) -> None:
    doc = client.get("/openapi.json").json()
    schemas = doc["components"]["schemas"]
    for path, model in (
        ("/signal", "SignalRequest"),
        ("/signal/batch", "BatchRequest"),
        ("/signal/stream", "StreamRequest"),
    ):
        body = doc["paths"][path]["post"]["requestBody"]
        assert body["required"] is True
        assert body["content"]["application/json"]["schema"] == {
            "$ref": f"#/components/schemas/{model}"
        }
    assert {"symbol", "bars", "quote", "as_of"} <= set(schemas["SignalRequest"]["properties"])
    assert schemas["SignalRequest"]["additionalProperties"] is False
    assert "close" in schemas["BarIn"]["properties"]
    refs = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(doc)))
    assert refs <= set(schemas), f"dangling references: {sorted(refs - set(schemas))}"


def test_schema_errors_name_the_field_under_body(client: TestClient) -> None:
    bar = {"ts": "2024-01-02T14:31:00Z", "open": 1, "high": 1, "low": 1, "close": -1, "volume": 1}
    reply = client.post("/signal", json={"symbol": "AAA", "bars": [bar]})
    assert reply.status_code == 422
    detail = reply.json()["detail"]
    assert detail[0]["loc"] == ["body", "bars", 0, "close"]
    assert reply.json()["error"].startswith("bars.0.close: ")


def test_malformed_json_and_wrong_top_level_type_are_422(client: TestClient) -> None:
    for content in (b"{not json", b"", b"[1, 2]", b'"text"'):
        reply = client.post(
            "/signal/batch", content=content, headers={"content-type": "application/json"}
        )
        assert reply.status_code == 422, content
        assert reply.json()["detail"][0]["loc"][0] == "body"


def test_declared_oversized_body_is_413_before_reading(client: TestClient) -> None:
    reply = client.post(
        "/signal/stream",
        content=b"{}",
        headers={"content-type": "application/json", "content-length": str(9 * 1024 * 1024)},
    )
    assert reply.status_code == 413
    assert "exceeds" in reply.json()["error"]
