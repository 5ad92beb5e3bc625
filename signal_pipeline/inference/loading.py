"""The served model: a registry alias (``champion``) fetched into a local copy.

:func:`fetch_served_model` asks the MLflow registry which version holds the alias,
downloads that version's saved ensemble folder (the pyfunc's ``ensemble`` artifact) and
keeps it under ``get_settings().home / "serving" / <alias>`` with a ``serving.json``
describing it. When the registry cannot be reached (or fails in any way), the last
local copy is used instead and the reason is recorded (``ServedModel.registry_error``),
so a service restarts while MLflow is down. With neither, :class:`ServedModelUnavailable`
(503) says both reasons.

The copy is replaced atomically (built under a temporary name, then renamed), so a
killed download leaves the previous copy intact. Plain Python: no BentoML, no Dagster.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import shutil
import socket
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pandas as pd

from signal_pipeline.inference.errors import InferenceError
from signal_pipeline.settings import get_settings

log = logging.getLogger(__name__)

SERVING_FILE = "serving.json"
ENSEMBLE_DIR = "ensemble"
DRIFT_REFERENCE_FILE = "drift_reference.parquet"
FEATURE_SPEC_FILE = "feature_spec.yaml"
MODEL_NAME = "signal-ensemble"  # == signal_pipeline.registry.MODEL_NAME (no mlflow import here)
# Seconds to wait for a TCP connection to an HTTP tracking server before falling back.
PROBE_TIMEOUT_S = 3.0


class ServedModelUnavailable(InferenceError):
    """Neither the registry nor a local copy could provide the model. ``not_registered``:
    the registry answered that no version holds the alias (a fresh install, not an
    outage)."""

    http_status = 503

    def __init__(self, message: str, *, not_registered: bool = False) -> None:
        self.not_registered = not_registered
        super().__init__(message)


class AliasNotRegisteredError(LookupError):
    """The registry has no version holding the alias (or no such registered model)."""


@dataclass(frozen=True)
class ServedModel:
    """A local copy of one registered model version.

    ``folder``: the ``TrainedEnsemble.save`` folder; ``version``: the registry version
    number; ``model_version``: what signals record (``signal-ensemble/3``); ``aliases``
    its aliases when fetched; ``source``: ``"registry"`` (fetched now) or
    ``"local_copy"`` (registry failed: ``registry_error`` says why); ``fetched_at``: when
    the copy was made; ``drift_reference`` / ``feature_spec``: files kept beside the
    model when the training run logged them.
    """

    name: str
    alias: str
    version: str
    model_version: str
    aliases: list[str]
    folder: Path
    source: str
    fetched_at: str
    run_id: str | None = None
    tags: dict[str, str] = field(default_factory=dict)
    registry_error: str | None = None
    drift_reference: Path | None = None
    feature_spec: Path | None = None

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for key in ("folder", "drift_reference", "feature_spec"):
            out[key] = str(out[key]) if out[key] is not None else None
        return out


def serving_dir(alias: str, root: str | Path | None = None) -> Path:
    return Path(root) if root is not None else get_settings().home / "serving" / alias


def probe_tracking_server(uri: str, timeout: float = PROBE_TIMEOUT_S) -> None:
    """Raise ``ConnectionError`` quickly when an HTTP(S) tracking server does not accept
    connections: MLflow's own client retries with back-off for minutes otherwise."""
    parsed = urlparse(uri)
    if parsed.scheme not in ("http", "https"):
        return
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        with socket.create_connection((parsed.hostname or "localhost", port), timeout=timeout):
            pass
    except OSError as exc:
        raise ConnectionError(f"MLflow tracking server {uri} is unreachable ({exc})") from exc


def _find_ensemble(root: Path) -> Path:
    """The saved ensemble folder inside a downloaded pyfunc model (``artifacts/ensemble``)
    or the folder itself; recognised by ``ensemble/ensemble.json``."""
    candidates = [root, *(p.parent.parent for p in root.rglob(f"{ENSEMBLE_DIR}/ensemble.json"))]
    for path in candidates:
        if (path / ENSEMBLE_DIR / "ensemble.json").is_file():
            return path
    raise FileNotFoundError(
        f"no saved TrainedEnsemble (a folder with ensemble/ensemble.json) under {root}: the "
        "registered version must be logged with signal_pipeline.registry.log_ensemble_model."
    )


def _download_run_file(run_id: str | None, name: str, dst: Path) -> Path | None:
    """``name`` from the version's training run, when the run logged it."""
    if not run_id:
        return None
    import mlflow

    try:
        path = mlflow.artifacts.download_artifacts(run_id=run_id, artifact_path=name, dst_path=dst)
    except Exception:  # optional extras: the model serves without them
        return None
    return Path(path)


def _fetch_from_registry(
    alias: str, name: str, target: Path, tracking_uri: str | None
) -> ServedModel:
    from mlflow import MlflowClient

    uri = tracking_uri or get_settings().mlflow_tracking_uri
    probe_tracking_server(uri)
    with _mlflow_uri(uri):
        return _download(MlflowClient(tracking_uri=uri, registry_uri=uri), alias, name, target)


@contextlib.contextmanager
def _mlflow_uri(uri: str) -> Iterator[None]:
    """Point MLflow's process-wide tracking/registry URIs at ``uri`` for the download
    (``models:/`` URIs resolve through them), then restore them."""
    import mlflow

    previous = (mlflow.get_tracking_uri(), mlflow.get_registry_uri())
    # set_tracking_uri also writes these variables (for subprocesses): restore them as found.
    saved_env = {k: os.environ.get(k) for k in ("MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")}
    mlflow.set_tracking_uri(uri)
    mlflow.set_registry_uri(uri)
    try:
        yield
    finally:
        mlflow.set_tracking_uri(previous[0])
        mlflow.set_registry_uri(previous[1])
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def _download(client: Any, alias: str, name: str, target: Path) -> ServedModel:
    import mlflow
    from mlflow.exceptions import MlflowException

    try:
        version = client.get_model_version_by_alias(name, alias)
    except MlflowException as exc:
        if exc.error_code == "RESOURCE_DOES_NOT_EXIST" or "not found" in str(exc):
            raise AliasNotRegisteredError(f"no version of {name!r} holds {alias!r}: {exc}") from exc
        raise
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.parent / f".tmp-{alias}-{uuid.uuid4().hex[:8]}"
    staging.mkdir()
    try:
        with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
            downloaded = Path(
                mlflow.artifacts.download_artifacts(
                    artifact_uri=f"models:/{name}/{version.version}", dst_path=tmp
                )
            )
            shutil.copytree(_find_ensemble(downloaded), staging / ENSEMBLE_DIR)
            extras = {}
            for file_name in (DRIFT_REFERENCE_FILE, FEATURE_SPEC_FILE):
                found = _download_run_file(version.run_id, file_name, Path(tmp) / "run")
                if found is not None and found.is_file():
                    shutil.copy2(found, staging / file_name)
                    extras[file_name] = staging / file_name
        served = ServedModel(
            name=name,
            alias=alias,
            version=str(version.version),
            model_version=f"{name}/{version.version}",
            aliases=list(getattr(version, "aliases", []) or []),
            folder=target / ENSEMBLE_DIR,
            source="registry",
            fetched_at=pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds"),
            run_id=version.run_id,
            tags={str(k): str(v) for k, v in (version.tags or {}).items()},
            drift_reference=target / DRIFT_REFERENCE_FILE
            if DRIFT_REFERENCE_FILE in extras
            else None,
            feature_spec=target / FEATURE_SPEC_FILE if FEATURE_SPEC_FILE in extras else None,
        )
        (staging / SERVING_FILE).write_text(json.dumps(served.to_dict(), indent=2))
        _swap_in(staging, target)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    return served


def _swap_in(staging: Path, target: Path) -> None:
    """Replace ``target`` by ``staging`` with renames (the old copy survives a crash)."""
    old = target.parent / f".old-{target.name}-{uuid.uuid4().hex[:8]}"
    if target.exists():
        os.replace(target, old)
    os.replace(staging, target)
    if old.exists():
        shutil.rmtree(old, ignore_errors=True)


def read_local_copy(alias: str = "champion", root: str | Path | None = None) -> ServedModel | None:
    """The local copy of ``alias`` as last fetched, or None when there is none."""
    folder = serving_dir(alias, root)
    meta = folder / SERVING_FILE
    if not meta.is_file():
        return None
    data = json.loads(meta.read_text())
    for key in ("drift_reference", "feature_spec"):
        data[key] = folder / Path(data[key]).name if data.get(key) else None
    data["folder"] = folder / ENSEMBLE_DIR  # the copy may have moved with its home
    return ServedModel(**data)


def fetch_served_model(
    alias: str = "champion",
    *,
    name: str = MODEL_NAME,
    tracking_uri: str | None = None,
    root: str | Path | None = None,
) -> ServedModel:
    """The model version holding ``alias``, fetched into its local copy (see the module
    docstring). ``root`` overrides the copy's folder (default
    ``$SIGNAL_PIPELINE_HOME/serving/<alias>``)."""
    target = serving_dir(alias, root)
    try:
        served = _fetch_from_registry(alias, name, target, tracking_uri)
    except Exception as exc:  # any registry failure falls back to the local copy
        reason = f"{type(exc).__name__}: {exc}"
        local = read_local_copy(alias, root)
        if local is None:
            raise ServedModelUnavailable(
                f"model {name}@{alias}: the registry failed ({reason}) and there is no local "
                f"copy under {target}: register a version with the alias {alias!r} (train), or "
                "make the MLflow tracking server reachable (MLFLOW_TRACKING_URI).",
                not_registered=isinstance(exc, AliasNotRegisteredError),
            ) from exc
        log.warning(
            "registry unavailable for %s@%s (%s); serving the local copy of version %s "
            "fetched at %s",
            name,
            alias,
            reason,
            local.version,
            local.fetched_at,
        )
        return replace(local, source="local_copy", registry_error=reason)
    log.info("fetched %s@%s = version %s into %s", name, alias, served.version, target)
    return served


def load_feature_spec_for(served: ServedModel) -> Any:
    """The feature spec to serve ``served`` with: the one logged beside the model, else
    ``$SIGNAL_PIPELINE_FEATURE_SPEC`` (a YAML path), else the packaged spec."""
    from signal_pipeline.features import load_feature_spec

    if served.feature_spec is not None and served.feature_spec.is_file():
        return load_feature_spec(served.feature_spec)
    path = os.environ.get("SIGNAL_PIPELINE_FEATURE_SPEC")
    return load_feature_spec(path) if path else load_feature_spec()


def load_drift_reference_for(served: ServedModel) -> Any:
    """The training drift reference kept beside the model, or None."""
    from signal_pipeline.inference.drift import DriftReference

    if served.drift_reference is None or not served.drift_reference.is_file():
        return None
    with contextlib.suppress(Exception):
        return DriftReference.load(served.drift_reference)
    log.warning("drift reference %s unreadable; drift metrics off", served.drift_reference)
    return None
