"""The registered model ``signal-ensemble`` and its aliases ``champion`` / ``challenger``.

No deprecated stages: a version's role is an alias. Every alias change is recorded on the
version that receives it, as tags ``<alias>.reason``, ``<alias>.set_at`` (UTC, ISO 8601)
and ``<alias>.previous_version`` (the version that held the alias before, or ``none``);
the version that loses the alias gets ``<alias>.removed_at`` and ``<alias>.replaced_by``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd
from mlflow import MlflowClient
from mlflow.exceptions import MlflowException

from signal_pipeline.registry.errors import RegistryError

MODEL_NAME = "signal-ensemble"
CHAMPION = "champion"
CHALLENGER = "challenger"
_DESCRIPTION = (
    "Calibrated soft-voting ensemble (XGBoost, Random Forest, LSTM) of BUY/SELL/HOLD "
    "signals. Aliases: champion (serving), challenger (newest candidate)."
)


@dataclass(frozen=True)
class AliasChange:
    """One alias move: which version got it, which lost it, when and why."""

    alias: str
    version: str
    previous_version: str | None
    reason: str
    set_at: str


def _now() -> str:
    return pd.Timestamp.now(tz="UTC").isoformat(timespec="seconds")


def register_version(
    model_uri: str,
    tags: Mapping[str, Any],
    *,
    name: str = MODEL_NAME,
    run_id: str | None = None,
) -> Any:
    """Register ``model_uri`` as a new version of ``name`` (created if missing) with
    ``tags`` (lineage and the promotion figures); returns the ``ModelVersion``."""
    client = MlflowClient()
    try:
        client.get_registered_model(name)
    except MlflowException:
        client.create_registered_model(name, description=_DESCRIPTION)
    return client.create_model_version(
        name,
        source=model_uri,
        run_id=run_id,
        tags={k: str(v) for k, v in tags.items()},
    )


def alias_version(alias: str, *, name: str = MODEL_NAME) -> Any | None:
    """The ``ModelVersion`` holding ``alias``, or None when no version holds it."""
    try:
        return MlflowClient().get_model_version_by_alias(name, alias)
    except MlflowException:
        return None


def set_alias(
    version: str | int, alias: str, reason: str, *, name: str = MODEL_NAME
) -> AliasChange:
    """Move ``alias`` to ``version`` and tag both versions with why (see module docstring)."""
    if not reason.strip():
        raise RegistryError(
            f"set_alias({name} v{version}, {alias!r}): give the reason for the change."
        )
    client = MlflowClient()
    version = str(version)
    try:
        client.get_model_version(name, version)
    except MlflowException as exc:
        raise RegistryError(
            f"model {name!r} has no version {version}: register it before giving it an alias."
        ) from exc
    previous = alias_version(alias, name=name)
    previous_version = str(previous.version) if previous is not None else None
    when = _now()
    client.set_registered_model_alias(name, alias, version)
    for key, value in (
        (f"{alias}.reason", reason),
        (f"{alias}.set_at", when),
        (f"{alias}.previous_version", previous_version or "none"),
    ):
        client.set_model_version_tag(name, version, key, value)
    if previous_version is not None and previous_version != version:
        client.set_model_version_tag(name, previous_version, f"{alias}.removed_at", when)
        client.set_model_version_tag(name, previous_version, f"{alias}.replaced_by", version)
    return AliasChange(alias, version, previous_version, reason, when)
