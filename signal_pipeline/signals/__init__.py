"""Signal management: model, store, retrieval, outcomes, expiration, conflicts, analytics.

The submodules are the API (``signal_pipeline.signals.retrieval``, ``.tracker``, ...);
the names most callers need are re-exported here.
"""

from signal_pipeline.signals.model import Signal, SignalType, SignalValidationError
from signal_pipeline.signals.store import SignalStore, SignalStoreUnavailableError, WriteResult

__all__ = [
    "Signal",
    "SignalStore",
    "SignalStoreUnavailableError",
    "SignalType",
    "SignalValidationError",
    "WriteResult",
]
