"""The BentoML service: stored-signal routes under ``/signals`` (live-signal endpoints join later).

Serve from the repository root:

    bentoml serve bentos.signal_service.service:SignalService

``/readyz`` is true once the signals database answers (BentoML calls ``__is_ready__``).
"""

from __future__ import annotations

import bentoml

from bentos.signal_service.signals_api import app as signals_app
from signal_pipeline.signals.db import DatabaseUnavailableError


@bentoml.asgi_app(signals_app, path="/signals")
@bentoml.service(name="signal_service", traffic={"timeout": 30})
class SignalService:
    """Trading signals over HTTP."""

    def __init__(self) -> None:
        self.store = signals_app.state.get_store()

    def __is_ready__(self) -> bool:
        try:
            self.store.fetch("SELECT 1 AS ok")
        except DatabaseUnavailableError:
            return False
        return True
