"""Launching materialisations from the CLI (`signal-pipeline demo`, `ingest`).

Runs go to the Dagster instance under $DAGSTER_HOME, so everything the CLI
materialises is visible afterwards in `make ui` with its lineage and metadata.
"""

import shutil
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import dagster as dg

from signal_pipeline.settings import get_settings

_REPO_ROOT = Path(__file__).resolve().parents[2]
_FALLBACK_INSTANCE_YAML = "telemetry:\n  enabled: false\nnux:\n  enabled: false\n"


def init_dagster_home(postgres: bool = False, force: bool = False) -> Path:
    """Create $DAGSTER_HOME and put the instance config there (embedded or PostgreSQL)."""
    settings = get_settings().ensure_dirs()
    target = settings.dagster_home / "dagster.yaml"
    if target.exists() and not force:
        return target
    source = _REPO_ROOT / ("dagster.postgres.yaml" if postgres else "dagster.yaml")
    if source.exists():
        shutil.copyfile(source, target)
    elif postgres:
        raise FileNotFoundError(f"{source} not found: run from a checkout of signal-pipeline")
    else:
        target.write_text(_FALLBACK_INSTANCE_YAML)
    return target


def instance() -> dg.DagsterInstance:
    init_dagster_home()
    return dg.DagsterInstance.from_config(str(get_settings().dagster_home))


def materialise(
    selection: Sequence[str],
    *,
    partition_range: tuple[str, str] | None = None,
    run_config: dict[str, Any] | None = None,
    dagster_instance: dg.DagsterInstance | None = None,
    log_level: str = "INFO",
    raise_on_error: bool = True,
) -> dg.ExecuteInProcessResult:
    """Materialise the named assets (and their checks) in-process, recorded on the instance."""
    from signal_pipeline.definitions import defs

    definitions = defs()
    graph = definitions.resolve_asset_graph()
    keys = [dg.AssetKey(name) for name in selection]
    unknown = [k.to_user_string() for k in keys if k not in graph.get_all_asset_keys()]
    if unknown:
        raise ValueError(
            f"unknown asset(s) {unknown}; known: {sorted(k.to_user_string() for k in graph.get_all_asset_keys())}"
        )
    tags: dict[str, str] = {}
    if partition_range is not None:
        tags = {
            "dagster/asset_partition_range_start": partition_range[0],
            "dagster/asset_partition_range_end": partition_range[1],
        }
    config: dict[str, Any] = {"loggers": {"console": {"config": {"log_level": log_level}}}}
    config.update(run_config or {})
    job = definitions.resolve_implicit_global_asset_job_def()
    return job.execute_in_process(
        run_config=config,
        instance=dagster_instance or instance(),
        tags=tags,
        asset_selection=keys,
        raise_on_error=raise_on_error,
    )


def failed_steps(result: dg.ExecuteInProcessResult) -> list[str]:
    """Step keys that failed in a run."""
    return [e.step_key for e in result.all_events if e.is_step_failure and e.step_key]


def failed_checks(result: dg.ExecuteInProcessResult) -> dict[str, str]:
    """Asset checks that did not pass: name -> their summary metadata, when they have one."""
    out: dict[str, str] = {}
    for event in result.all_events:
        if event.event_type_value != "ASSET_CHECK_EVALUATION":
            continue
        data = event.asset_check_evaluation_data
        if not data.passed:
            meta = data.metadata or {}
            reason = meta.get("reasons") or meta.get("summary") or meta.get("decision")
            out[data.check_name] = str(getattr(reason, "value", reason) or "failed")
    return out
