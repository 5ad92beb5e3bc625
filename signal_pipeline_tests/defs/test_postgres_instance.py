"""dagster.postgres.yaml: a materialisation recorded in the local PostgreSQL server."""

from __future__ import annotations

import shutil
from pathlib import Path

import dagster as dg
import psycopg
import pytest

from signal_pipeline.defs.raw_bars import assets as raw
from signal_pipeline.defs.resources import WarehouseResource

REPO = Path(__file__).resolve().parents[2]


@pytest.mark.postgres
@pytest.mark.slow
def test_postgres_instance_records_the_run(
    pg_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "dagster_home"
    home.mkdir()
    shutil.copyfile(REPO / "dagster.postgres.yaml", home / "dagster.yaml")
    monkeypatch.setenv("DAGSTER_PG_URL", pg_dsn)
    with dg.DagsterInstance.from_config(str(home)) as instance:
        result = dg.materialize(
            [raw.raw_bars],
            resources={"warehouse": WarehouseResource(root=str(tmp_path / "warehouse"))},
            run_config={"ops": {"raw_bars": {"config": {"sim_symbols": 2}}}},
            instance=instance,
            partition_key="2024-01-02",
        )
        assert result.success
        assert instance.get_run_by_id(result.run_id) is not None
    with psycopg.connect(pg_dsn) as conn:
        (runs,) = conn.execute(
            "SELECT count(*) FROM runs WHERE run_id = %s", (result.run_id,)
        ).fetchone()
        (events,) = conn.execute(
            "SELECT count(*) FROM event_logs WHERE run_id = %s AND dagster_event_type = 'ASSET_MATERIALIZATION'",
            (result.run_id,),
        ).fetchone()
    assert runs == 1 and events == 1
