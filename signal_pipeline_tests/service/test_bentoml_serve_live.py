"""One real ``bentoml serve`` process over loopback HTTP, started while the registry is
unreachable: it must serve the local copy, with the offline signal (slow: a server)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import numpy as np
import pytest

from bentos.signal_service.background import serving
from signal_pipeline.features import compute_features
from signal_pipeline.inference.loading import fetch_served_model
from signal_pipeline_tests.inference.conftest import recent_bars

from .conftest import Champion, request_body


@pytest.mark.slow
def test_bentoml_serve_from_local_copy(champion: Champion, tmp_path: Path) -> None:
    home = tmp_path / "home"
    fetch_served_model(
        "champion", tracking_uri=champion.tracking_uri, root=home / "serving" / "champion"
    )
    env = {
        **os.environ,
        **champion.env,
        "SIGNAL_PIPELINE_HOME": str(home),
        "MLFLOW_TRACKING_URI": "http://127.0.0.1:9",  # nothing listens on the discard port
        "SIGNAL_PIPELINE_SIGNALS_DB": f"sqlite:///{tmp_path / 'signals.db'}",
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    with serving(env, tmp_path / "bentoml.log") as base:
        model = httpx.get(f"{base}/model", timeout=5).json()["champion"]
        assert model["source"] == "local_copy" and model["version"] == champion.version
        assert "unreachable" in model["registry_error"]

        trained = champion.trained
        body = request_body(trained.bars, "BBB", 300)
        reply = httpx.post(f"{base}/signal", json=body, timeout=30)
        assert reply.status_code == 200, reply.text
        offline = trained.ensemble.predict_signal(
            compute_features(recent_bars(trained.bars, "BBB", 300), trained.spec)
        ).iloc[-1]
        np.testing.assert_array_equal(
            reply.json()["proba"], offline[["p_sell", "p_hold", "p_buy"]].to_numpy(np.float64)
        )
        assert httpx.post(f"{base}/signal", json=body, timeout=30).json()["from_cache"] is True

        bad = httpx.post(f"{base}/signal", json={**body, "bars": []}, timeout=10)
        assert bad.status_code == 422 and "bars" in bad.json()["error"]
        assert "signal_predictions_total" in httpx.get(f"{base}/metrics", timeout=5).text
        assert "/signal" in httpx.get(f"{base}/openapi.json", timeout=5).json()["paths"]
        assert httpx.get(f"{base}/signals/latest", timeout=5).status_code in (200, 404)
