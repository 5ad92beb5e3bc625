"""One settings object: every path, URI and tunable location of the project.

Each field is read from an environment variable when set, else falls back to the
embedded default under ``SIGNAL_PIPELINE_HOME`` (no server needed). Production swaps
the URIs for PostgreSQL / object storage without code changes.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _env_path(name: str, default: Path) -> Path:
    value = os.environ.get(name)
    return Path(value).expanduser().resolve() if value else default


@dataclass(frozen=True)
class Settings:
    """Resolved locations. Build with :func:`get_settings` so env vars are honoured."""

    home: Path
    warehouse_dir: Path = field(init=False)
    dagster_home: Path = field(init=False)
    mlflow_tracking_uri: str = field(init=False)
    mlflow_artifact_root: Path = field(init=False)
    signals_db_url: str = field(init=False)
    optuna_storage: str = field(init=False)
    redis_url: str | None = field(init=False)
    reports_dir: Path = field(init=False)

    def __post_init__(self) -> None:
        set_ = object.__setattr__  # frozen dataclass: derived fields are set once, here
        set_(self, "warehouse_dir", _env_path("SIGNAL_PIPELINE_WAREHOUSE", self.home / "warehouse"))
        set_(self, "dagster_home", _env_path("DAGSTER_HOME", self.home / "dagster"))
        set_(self, "reports_dir", _env_path("SIGNAL_PIPELINE_REPORTS", self.home / "reports"))
        set_(self, "mlflow_artifact_root", self.home / "mlartifacts")
        set_(
            self,
            "mlflow_tracking_uri",
            os.environ.get("MLFLOW_TRACKING_URI", f"sqlite:///{self.home / 'mlflow.db'}"),
        )
        set_(
            self,
            "signals_db_url",
            os.environ.get("SIGNAL_PIPELINE_SIGNALS_DB", f"sqlite:///{self.home / 'signals.db'}"),
        )
        set_(
            self,
            "optuna_storage",
            os.environ.get(
                "SIGNAL_PIPELINE_OPTUNA_STORAGE", f"sqlite:///{self.home / 'optuna.db'}"
            ),
        )
        set_(self, "redis_url", os.environ.get("SIGNAL_PIPELINE_REDIS_URL") or None)

    def ensure_dirs(self) -> Settings:
        """Create the local folders the embedded default needs; returns self."""
        for path in (self.home, self.warehouse_dir, self.dagster_home, self.reports_dir):
            path.mkdir(parents=True, exist_ok=True)
        return self


def default_home() -> Path:
    return _env_path("SIGNAL_PIPELINE_HOME", Path.home() / ".signal-pipeline")


def get_settings() -> Settings:
    """Settings from the current environment (cheap; call where needed, do not cache)."""
    return Settings(home=default_home())
