"""Lineage of a model version: registry version → MLflow run → Dagster run → data.

``lineage(ref)`` accepts what a user or a stored signal has at hand:

- a version number (``3`` or ``"3"``), an alias (``"champion"``, ``"@challenger"``),
- ``"signal-ensemble/3"`` or ``"signal-ensemble@champion"`` (the ``model_version`` a signal
  stores, see :func:`signal_model_version`), or a ``models:/`` URI of either form.

It returns a plain dict: the model name, version, aliases, registration time, the MLflow
run (id, experiment, status, link), the Dagster run id, the training-data hash, the
feature-spec hash, the code version, and the promotion figures and decision.
"""

from __future__ import annotations

import re
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from signal_pipeline.registry.aliases import MODEL_NAME, alias_version
from signal_pipeline.registry.errors import RegistryError
from signal_pipeline.registry.promotion import GateFigures

_REF = re.compile(r"^(?:models:/)?(?:(?P<name>[^/@]+)(?P<sep>[/@]))?(?P<id>@?[\w.-]+)$")
LINEAGE_TAGS = ("dagster_run_id", "training_data_hash", "feature_spec_hash", "code_version")


def signal_model_version(version: str | int, name: str = MODEL_NAME) -> str:
    """The ``model_version`` string a signal stores: ``"signal-ensemble/3"``."""
    return f"{name}/{version}"


def resolve_version(ref: str | int, *, name: str = MODEL_NAME) -> Any:
    """The ``ModelVersion`` that ``ref`` names (see the module docstring)."""
    text = str(ref).strip()
    match = _REF.match(text)
    if match is None:
        raise RegistryError(
            f"model reference {ref!r} not understood: use a version number, an alias, "
            f"'{name}/3', '{name}@champion' or a models:/ URI."
        )
    model = match.group("name") or name
    ident = match.group("id").lstrip("@")
    by_alias = match.group("sep") == "@" or match.group("id").startswith("@") or not ident.isdigit()
    if by_alias:
        found = alias_version(ident, name=model)
        if found is None:
            raise RegistryError(f"no version of {model!r} holds the alias {ident!r}.")
        return found
    try:
        return MlflowClient().get_model_version(model, ident)
    except MlflowException as exc:
        raise RegistryError(f"model {model!r} has no version {ident}.") from exc


def lineage(ref: str | int, *, name: str = MODEL_NAME) -> dict[str, Any]:
    """Lineage of the model version ``ref`` names (see the module docstring)."""
    version = resolve_version(ref, name=name)
    client = MlflowClient()
    tags = dict(version.tags or {})
    out: dict[str, Any] = {
        "model_name": version.name,
        "version": str(version.version),
        "model_version": signal_model_version(version.version, version.name),
        "aliases": list(getattr(version, "aliases", []) or []),
        "registered_at": pd.Timestamp(version.creation_timestamp, unit="ms", tz="UTC").isoformat(),
        "source": version.source,
        "mlflow_run_id": version.run_id,
    }
    for key in LINEAGE_TAGS:
        out[key] = tags.get(key)
    if version.run_id:
        try:
            run = client.get_run(version.run_id)
        except MlflowException:
            run = None
        if run is not None:
            from signal_pipeline.registry.tracking import run_link

            out["mlflow_experiment_id"] = run.info.experiment_id
            out["mlflow_run_status"] = run.info.status
            out["mlflow_run_link"] = run_link(run.info.run_id, run.info.experiment_id)
            for key in LINEAGE_TAGS:
                out[key] = out[key] or run.data.tags.get(key)
            out["oof_metrics"] = {
                k: v
                for k, v in run.data.metrics.items()
                if k in ("oof_accuracy", "oof_log_loss", "oof_ece")
            }
    out["promotion"] = {
        "figures": GateFigures.from_tags(tags).__dict__,
        "decision": tags.get("promotion.decision"),
        "reasons": tags.get("promotion.reasons"),
    }
    return out
