"""Shared fixtures: an isolated SIGNAL_PIPELINE_HOME per test session, and a real
PostgreSQL database per test that asks for one.

PostgreSQL: tests use the server at ``SIGNAL_PIPELINE_TEST_PG_DSN`` (default: the
local server, ``postgresql://postgres@127.0.0.1:5432/postgres``). Each test that asks
for ``pg_dsn`` gets a freshly created database that is dropped afterwards. When the
server is unreachable those tests are skipped, unless ``SIGNAL_PIPELINE_REQUIRE_PG=1``
(set by CI), where they fail.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

DEFAULT_PG_DSN = "postgresql://postgres@127.0.0.1:5432/postgres"


@pytest.fixture(scope="session", autouse=True)
def isolated_home(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Point every location of settings.py at a temporary folder for the whole run."""
    home = tmp_path_factory.mktemp("signal_pipeline_home")
    saved = {
        k: os.environ.get(k)
        for k in ("SIGNAL_PIPELINE_HOME", "DAGSTER_HOME", "MLFLOW_TRACKING_URI")
    }
    os.environ["SIGNAL_PIPELINE_HOME"] = str(home)
    os.environ["DAGSTER_HOME"] = str(home / "dagster")
    (home / "dagster").mkdir()
    for key in ("SIGNAL_PIPELINE_SIGNALS_DB", "SIGNAL_PIPELINE_WAREHOUSE"):
        os.environ.pop(key, None)
    # MLflow's own default is ./mlflow.db of the working directory; a test that restores
    # "the previous tracking URI" must land in the temporary home, never in the checkout.
    os.environ["MLFLOW_TRACKING_URI"] = f"sqlite:///{home / 'mlflow.db'}"
    yield home
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)
        else:
            os.environ[key] = value


def _pg_admin_dsn() -> str:
    return os.environ.get("SIGNAL_PIPELINE_TEST_PG_DSN", DEFAULT_PG_DSN)


@pytest.fixture
def pg_dsn() -> Iterator[str]:
    """DSN of a fresh, empty PostgreSQL database, dropped after the test."""
    import psycopg

    admin = _pg_admin_dsn()
    try:
        conn = psycopg.connect(admin, autocommit=True, connect_timeout=3)
    except psycopg.OperationalError as exc:
        if os.environ.get("SIGNAL_PIPELINE_REQUIRE_PG") == "1":
            raise
        pytest.skip(
            f"PostgreSQL not reachable at {admin!r} ({exc}); set SIGNAL_PIPELINE_TEST_PG_DSN"
        )
    name = f"sp_test_{uuid.uuid4().hex[:12]}"
    with conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = admin.rpartition("/")
    try:
        yield f"{base}/{name}"
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
