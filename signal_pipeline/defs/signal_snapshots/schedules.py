"""Expiration: archive expired signals every five minutes."""

import dagster as dg

from signal_pipeline.defs.resources import SignalStoreResource
from signal_pipeline.signals.expiration import expire_signals
from signal_pipeline.signals.store import SignalStore


@dg.op(description="Move signals with expires_at <= now to signals_archive, in one transaction.")
def archive_expired_signals(
    context: dg.OpExecutionContext, signal_store: SignalStoreResource
) -> int:
    store = SignalStore(signal_store.resolved_url())
    try:
        result = expire_signals(store)
    finally:
        store.close()
    context.log.info(f"archived {result.archived} expired signal(s) as of {result.now.isoformat()}")
    context.add_output_metadata({"archived": result.archived})
    return result.archived


@dg.job(description="Archive expired trading signals.")
def expire_signals_job() -> None:
    archive_expired_signals()


expire_signals_schedule = dg.ScheduleDefinition(
    name="expire_signals",
    job=expire_signals_job,
    cron_schedule="*/5 * * * *",
    execution_timezone="UTC",
    default_status=dg.DefaultScheduleStatus.RUNNING,
    description="Every five minutes: archive signals past their expires_at.",
)
