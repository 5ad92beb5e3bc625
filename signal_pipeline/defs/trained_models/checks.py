"""The promotion policy as a blocking asset check on ``registered_model``.

The check evaluates the newest version (the ``challenger``) against the ``champion``
with :func:`signal_pipeline.registry.promotion.apply_promotion`: when every gate passes
it moves ``champion`` to the challenger (the alias change tagged with the reasons) and
passes; otherwise it leaves ``champion`` where it is and fails with ERROR severity, and
being blocking, stops anything downstream of ``registered_model`` in the same run. Gate
and action live together so that no promotion can bypass the policy.
"""

import dagster as dg

from signal_pipeline.defs.resources import MlflowResource
from signal_pipeline.defs.trained_models.assets import registered_model, upstream_metadata


@dg.asset_check(
    asset=registered_model,
    blocking=True,
    description="Promotion policy: champion moves only to a challenger that beats it on OOF "
    "log loss, has held-out ECE <= 0.05 and a quiet shuffled-label alarm.",
)
def promotion_policy(
    context: dg.AssetCheckExecutionContext, mlflow: MlflowResource
) -> dg.AssetCheckResult:
    from signal_pipeline.registry.promotion import apply_promotion
    from signal_pipeline.registry.tracking import configure_tracking

    configure_tracking(mlflow.resolved_tracking_uri())
    version = str(upstream_metadata(context, "registered_model")["version"])
    decision = apply_promotion(version)
    already = decision.gates.get("already_champion", False)
    return dg.AssetCheckResult(
        passed=decision.promote or already,
        severity=dg.AssetCheckSeverity.ERROR,
        metadata={
            "version": version,
            "decision": "promoted"
            if decision.promote
            else ("already champion" if already else "refused"),
            "champion_before": decision.champion_version or "none",
            "reasons": dg.MetadataValue.md("\n".join(f"- {r}" for r in decision.reasons)),
            "gates": dg.MetadataValue.json(decision.gates),
        },
    )
