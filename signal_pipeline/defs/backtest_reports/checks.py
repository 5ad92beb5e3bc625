"""Checks on ``backtest_report``: the report is where the issue says it must be.

``report_stored``: the HTML file exists, embeds its figures (no external ``src``), and
the model version's MLflow run holds it under ``backtest/``. Non-blocking (WARN): a
missing artifact should be fixed, but it does not make the backtest wrong.
"""

import re
from pathlib import Path

import dagster as dg

from signal_pipeline.defs.backtest_reports.assets import backtest_report
from signal_pipeline.defs.resources import MlflowResource


@dg.asset_check(
    asset=backtest_report,
    description="The HTML report exists, is self-contained and is an artifact of the model "
    "version's MLflow run.",
)
def report_stored(
    context: dg.AssetCheckExecutionContext, mlflow: MlflowResource
) -> dg.AssetCheckResult:
    from mlflow import MlflowClient

    from signal_pipeline.registry.tracking import configure_tracking

    event = context.instance.get_latest_materialization_event(backtest_report.key)
    assert event is not None and event.asset_materialization is not None  # runs after it
    meta = {k: getattr(v, "value", v) for k, v in event.asset_materialization.metadata.items()}
    report = Path(str(meta["report"]))
    problems = []
    if not report.is_file():
        problems.append(f"report file {report} is missing")
    else:
        external = [
            s for s in re.findall(r'src="([^"]*)"', report.read_text()) if not s.startswith("data:")
        ]
        if external:
            problems.append(f"report refers to external resources {external[:3]}")
    configure_tracking(mlflow.resolved_tracking_uri())
    run_id = str(meta["mlflow_run_id"])
    logged = [a.path for a in MlflowClient().list_artifacts(run_id, "backtest")]
    if str(meta["report_artifact"]) not in logged:
        problems.append(f"MLflow run {run_id} lacks {meta['report_artifact']} (has {logged})")
    return dg.AssetCheckResult(
        passed=not problems,
        severity=dg.AssetCheckSeverity.WARN,
        metadata={"problems": dg.MetadataValue.md("\n".join(f"- {p}" for p in problems) or "none")},
    )
