"""Dagster resources: small ConfigurableResource classes over the core's settings.

Every field defaults to the value `signal_pipeline.settings` resolves from the
environment, so the embedded default needs no configuration, and production overrides
the same environment variables (or the resource config in the launchpad).
"""

from __future__ import annotations

from pathlib import Path

import dagster as dg

from signal_pipeline.settings import get_settings


class WarehouseResource(dg.ConfigurableResource):
    """Parquet datasets under a root folder (local path or fsspec URL), queried with DuckDB."""

    root: str = ""

    def warehouse(self):  # -> signal_pipeline.data.storage.Warehouse
        from signal_pipeline.data.storage import Warehouse

        return Warehouse(Path(self.root) if self.root else get_settings().warehouse_dir)


class SignalStoreResource(dg.ConfigurableResource):
    """The signals database: a SQLAlchemy-style URL, SQLite by default, PostgreSQL in production."""

    url: str = ""

    def resolved_url(self) -> str:
        return self.url or get_settings().signals_db_url


class MlflowResource(dg.ConfigurableResource):
    """Where MLflow tracks runs and keeps the registry (embedded SQLite by default)."""

    tracking_uri: str = ""

    def resolved_tracking_uri(self) -> str:
        return self.tracking_uri or get_settings().mlflow_tracking_uri


@dg.definitions
def resources() -> dg.Definitions:
    return dg.Definitions(
        resources={
            "warehouse": WarehouseResource(),
            "signal_store": SignalStoreResource(),
            "mlflow": MlflowResource(),
        }
    )
