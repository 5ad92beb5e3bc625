"""The service class called directly: champion loading, parity, degradation, monitoring."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from bentos.signal_service.schemas import BatchRequest, SignalRequest, StreamRequest
from bentos.signal_service.service import SignalService
from signal_pipeline.features import compute_features
from signal_pipeline.inference.errors import ModelUnavailableError
from signal_pipeline.inference.loading import fetch_served_model, read_local_copy
from signal_pipeline.settings import get_settings
from signal_pipeline_tests.inference.conftest import recent_bars

from .conftest import Champion, request_body


@pytest.fixture(scope="module")
def service(champion: Champion) -> SignalService:
    return SignalService()


def test_loads_champion_from_registry_and_keeps_a_local_copy(
    service: SignalService, champion: Champion
) -> None:
    info = service.model()
    assert info["loaded"] is True
    served = info["champion"]
    assert served["version"] == champion.version
    assert served["model_version"] == f"signal-ensemble/{champion.version}"
    assert "champion" in served["aliases"]
    assert served["source"] == "registry"
    assert sorted(served["members"]) == ["random_forest", "xgboost"]
    assert served["drift_reference"] is True
    local = read_local_copy("champion")
    assert local is not None and local.version == champion.version
    assert (get_settings().home / "serving" / "champion" / "ensemble").is_dir()
    assert service.__is_ready__() is True


def test_signal_equals_offline_prediction(service: SignalService, champion: Champion) -> None:
    trained = champion.trained
    body = request_body(trained.bars, "AAA", 300)
    answer = service.signal(SignalRequest.model_validate(body))
    offline = trained.ensemble.predict_signal(
        compute_features(recent_bars(trained.bars, "AAA", 300), trained.spec)
    ).iloc[-1]
    np.testing.assert_array_equal(
        answer["proba"], offline[["p_sell", "p_hold", "p_buy"]].to_numpy(np.float64)
    )
    assert answer["signal"]["features"]["_raw_signal"] == offline["signal"]
    assert answer["signal"]["model_version"] == f"signal-ensemble/{champion.version}"
    assert answer["degraded"] is False and answer["from_cache"] is False


def test_repeat_is_a_cache_hit(service: SignalService, champion: Champion) -> None:
    body = request_body(champion.trained.bars, "BBB", 300)
    first = service.signal(SignalRequest.model_validate(body))
    again = service.signal(SignalRequest.model_validate(body))
    assert again["from_cache"] is True
    assert again["proba"] == first["proba"]


def test_batch_answers_each_symbol_and_reports_errors_per_item(
    service: SignalService, champion: Champion
) -> None:
    good = request_body(champion.trained.bars, "AAA", 300)
    short = request_body(champion.trained.bars, "CCC", 5)
    out = service.batch(BatchRequest.model_validate({"requests": [good, short]}))
    by_symbol = {r["symbol"]: r for r in out["results"]}
    assert by_symbol["AAA"]["ok"] is True
    assert by_symbol["CCC"]["status"] == 422 and "min_bars" in by_symbol["CCC"]["error"]


def test_stream_matches_the_batch_signal(service: SignalService, champion: Champion) -> None:
    body = request_body(champion.trained.bars, "CCC", 301)
    history, last = body["bars"][:-1], body["bars"][-1]
    streamed = service.stream(
        StreamRequest.model_validate(
            {"symbol": "CCC", "bar": last, "history": history, "as_of": body["as_of"]}
        )
    )
    batch = service.signal(SignalRequest.model_validate(body))
    np.testing.assert_allclose(streamed["proba"], batch["proba"], atol=1e-9)


def test_metrics_and_monitoring_snapshot(service: SignalService, champion: Champion) -> None:
    service.signal(SignalRequest.model_validate(request_body(champion.trained.bars, "AAA", 300)))
    text = service.metrics()
    assert "signal_inference_latency_seconds" in text
    assert "signal_predictions_total" in text
    assert "feature_psi{" in text
    written = service.write_monitoring_snapshot()
    assert Path(written["predictions"]).is_file()


def _break_member(folder: Path, member: str) -> None:
    """Corrupt one member's saved files so it cannot load."""
    files = [p for p in (folder / "ensemble").rglob("*") if p.is_file() and member in str(p)]
    assert files, f"no files of {member} under {folder}"
    for path in files:
        path.write_text("not a model")


def test_broken_member_degrades_and_all_broken_is_503(
    champion: Champion, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("SIGNAL_PIPELINE_HOME", str(tmp_path))
    monkeypatch.setenv("MLFLOW_TRACKING_URI", "http://127.0.0.1:9")
    copy = tmp_path / "serving" / "champion"
    fetch_served_model("champion", tracking_uri=champion.tracking_uri)
    _break_member(copy / "ensemble", "xgboost")
    degraded = SignalService()
    info = degraded.model()["champion"]
    assert info["source"] == "local_copy" and "unreachable" in info["registry_error"]
    answer = degraded.signal(
        SignalRequest.model_validate(request_body(champion.trained.bars, "AAA", 300))
    )
    assert answer["degraded"] is True and "xgboost" in answer["failures"]
    assert answer["members_used"] == ["random_forest"]
    _break_member(copy / "ensemble", "random_forest")
    dead = SignalService()
    assert dead.__is_ready__() is False
    with pytest.raises(ModelUnavailableError) as caught:
        dead.signal(SignalRequest.model_validate(request_body(champion.trained.bars, "AAA", 300)))
    assert caught.value.http_status == 503 and "champion" in caught.value.reasons


def test_ab_routes_symbols_by_hash_and_records_the_version(
    champion: Champion, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    import mlflow

    from signal_pipeline.inference.ab import assign_arm
    from signal_pipeline.registry.aliases import register_version, set_alias

    trained = champion.trained
    client = mlflow.MlflowClient(
        tracking_uri=champion.tracking_uri, registry_uri=champion.tracking_uri
    )
    first = client.get_model_version("signal-ensemble", champion.version)
    # the same model under a second version number is enough to tell the arms apart
    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion.tracking_uri)  # restored after the test
    mlflow.set_tracking_uri(champion.tracking_uri)
    mlflow.set_registry_uri(champion.tracking_uri)
    try:
        second = register_version(first.source, {"test": "challenger"}, run_id=first.run_id)
        set_alias(second.version, "challenger", "A/B test")
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
    # set_tracking_uri rewrote the variable: point the service at the registry again
    monkeypatch.setenv("MLFLOW_TRACKING_URI", champion.tracking_uri)
    monkeypatch.setenv("SIGNAL_PIPELINE_HOME", str(tmp_path))
    monkeypatch.setenv("SIGNAL_PIPELINE_AB_SHARE", "0.5")
    service = SignalService()
    assert service.model()["ab_share"] == 0.5, service.model()["errors"]
    assert service.model()["challenger"]["version"] == str(second.version)
    for symbol in ("AAA", "BBB", "CCC"):
        answer = service.signal(SignalRequest.model_validate(request_body(trained.bars, symbol)))
        arm = assign_arm(symbol, 0.5)
        expected = champion.version if arm == "champion" else str(second.version)
        assert answer["arm"] == arm
        assert answer["signal"]["model_version"] == f"signal-ensemble/{expected}"
