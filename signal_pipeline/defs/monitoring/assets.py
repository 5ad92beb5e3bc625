"""``model_monitoring`` (drift of the served model's inputs) and ``ab_test_report``
(champion vs challenger on realised outcomes).

Thin adapters: the service's :class:`DriftMonitor` writes snapshots under
``$SIGNAL_PIPELINE_HOME/monitoring``; ``model_monitoring`` reads the latest ones and
reports the PSI/KS table with a plot. ``ab_test_report`` reads the stored signals with
their realised performance and calls :func:`signal_pipeline.inference.ab.ab_test_report`.
"""

import base64
import math

import dagster as dg
import pandas as pd

from signal_pipeline.defs.resources import MlflowResource, SignalStoreResource
from signal_pipeline.inference import ab
from signal_pipeline.inference.drift import drift_plot
from signal_pipeline.inference.monitor import read_snapshots
from signal_pipeline.signals.store import SignalStore

GROUP = "monitoring"
OUTCOMES_SQL = """
SELECT model_version, signal_type, performance FROM trading_signals
WHERE performance IS NOT NULL AND model_version IS NOT NULL
UNION ALL
SELECT model_version, signal_type, performance FROM signals_archive
WHERE performance IS NOT NULL AND model_version IS NOT NULL
"""


class MonitoringConfig(dg.Config):
    """How many of the latest monitoring snapshots to read (``""``: the default folder)."""

    snapshots: int = 1
    folder: str = ""


class ABConfig(dg.Config):
    """Versions to compare (``signal-ensemble/3``); empty: the registry's aliases."""

    champion_version: str = ""
    challenger_version: str = ""
    alpha: float = 0.05


def _md(frame: pd.DataFrame) -> dg.MetadataValue:
    if frame.empty:
        return dg.MetadataValue.md("_no data_")
    return dg.MetadataValue.md(frame.to_markdown(index=False, floatfmt=".4f"))


def _number(value: float) -> float | None:
    return None if value is None or (isinstance(value, float) and math.isnan(value)) else value


@dg.asset(
    group_name=GROUP,
    kinds={"parquet"},
    description="Feature drift (PSI, KS against the training reference) and the prediction "
    "mix of the served model, from the service's monitoring snapshots.",
)
def model_monitoring(
    context: dg.AssetExecutionContext, config: MonitoringConfig
) -> dg.MaterializeResult:
    snaps = read_snapshots(config.folder or None, last=max(1, config.snapshots))
    predictions, drift = snaps["predictions"], snaps["drift"]
    metadata: dict[str, object] = {"predictions": len(predictions)}
    if not predictions.empty:
        if "signal_type" in predictions.columns:
            mix = predictions["signal_type"].value_counts(normalize=True)
            metadata.update({f"share_{k.lower()}": float(v) for k, v in mix.items()})
        if "confidence" in predictions.columns:
            metadata["mean_confidence"] = float(predictions["confidence"].mean())
        if "latency_s" in predictions.columns:
            latency = predictions["latency_s"].astype(float)
            metadata["latency_p50_ms"] = float(latency.quantile(0.5) * 1000)
            metadata["latency_p95_ms"] = float(latency.quantile(0.95) * 1000)
    if drift.empty:
        context.log.warning(
            "no drift report in the snapshots: the service has no training drift reference "
            "or has written no snapshot yet (POST /monitoring/snapshot)."
        )
        metadata["drift"] = dg.MetadataValue.md("_no drift report_")
    else:
        latest = drift[drift["snapshot"] == drift["snapshot"].iloc[-1]]
        latest = latest.sort_values("psi", ascending=False)
        status = latest["status"].value_counts().to_dict()
        png = drift_plot(latest)
        metadata.update(
            {
                "features": len(latest),
                "significant_drift": int(status.get("significant", 0)),
                "moderate_drift": int(status.get("moderate", 0)),
                "max_psi": float(latest["psi"].max()),
                "drift": _md(latest[["feature", "psi", "ks", "ks_pvalue", "n_live", "status"]]),
                "drift_plot": dg.MetadataValue.md(
                    f"![PSI by feature](data:image/png;base64,{base64.b64encode(png).decode()})"
                ),
            }
        )
    return dg.MaterializeResult(metadata=metadata)


def _alias_model_version(alias: str, tracking_uri: str) -> str:
    from mlflow import MlflowClient

    from signal_pipeline.registry.aliases import MODEL_NAME

    version = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)
    found = version.get_model_version_by_alias(MODEL_NAME, alias)
    return f"{MODEL_NAME}/{found.version}"


@dg.asset(
    group_name=GROUP,
    deps=["signal_performance"],
    kinds={"sql"},
    description="Champion vs challenger on realised signal outcomes: hit rate (two-proportion "
    "z-test) and mean return (Welch's t-test).",
)
def ab_test_report(
    context: dg.AssetExecutionContext,
    config: ABConfig,
    signal_store: SignalStoreResource,
    mlflow: MlflowResource,
) -> dg.MaterializeResult:
    uri = mlflow.resolved_tracking_uri()
    champion = config.champion_version or _alias_model_version("champion", uri)
    challenger = config.challenger_version or _alias_model_version("challenger", uri)
    store = SignalStore(signal_store.resolved_url())
    try:
        rows = store.fetch(OUTCOMES_SQL)
    finally:
        store.close()
    outcomes = pd.DataFrame(
        [
            {
                "model_version": r["model_version"],
                "signal_type": r["signal_type"],
                "performance": float(r["performance"]),
            }
            for r in rows
        ],
        columns=["model_version", "signal_type", "performance"],
    )
    report = ab.ab_test_report(
        outcomes, champion_version=champion, challenger_version=challenger, alpha=config.alpha
    )
    if min(report["champion_n"], report["challenger_n"]) < 30:
        context.log.warning(
            f"few traded outcomes (champion {report['champion_n']}, challenger "
            f"{report['challenger_n']}): the tests have little power yet."
        )
    table = pd.DataFrame(
        [
            {
                "arm": arm,
                "model_version": report[f"{arm}_version"],
                "n": report[f"{arm}_n"],
                "hit_rate": report[f"{arm}_hit_rate"],
                "mean_return_pct": report[f"{arm}_mean_return"],
            }
            for arm in ("champion", "challenger")
        ]
    )
    flat = {k: _number(v) if isinstance(v, float) else v for k, v in report.items()}
    return dg.MaterializeResult(
        metadata={**{k: v for k, v in flat.items() if v is not None}, "arms": _md(table)}
    )
