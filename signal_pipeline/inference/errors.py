"""Errors of the inference core, each carrying the HTTP status a service should answer.

Bad requests are :class:`InferenceInputError` subclasses (4xx: the caller can fix
them); a model that cannot answer at all is :class:`ModelUnavailableError` (503: retry
later or roll back). Nothing in the engine should surface as a 500. Every message names
the input, the rule it broke and how to fix it.
"""

from __future__ import annotations

from collections.abc import Mapping


class InferenceError(Exception):
    """Base of the inference core's errors. ``http_status`` is what a service answers."""

    http_status: int = 500


class InferenceInputError(InferenceError, ValueError):
    """A request the engine cannot use. ``field`` names the input, ``rule`` the broken rule."""

    http_status = 422

    def __init__(self, field: str, rule: str, message: str) -> None:
        self.field = field
        self.rule = rule
        super().__init__(f"{field}: {message} (rule: {rule})")


class EmptyBarsError(InferenceInputError):
    """No bars were given."""


class InsufficientBarsError(InferenceInputError):
    """Fewer bars than the model's features need to be defined on the last bar."""


class StaleBarsError(InferenceInputError):
    """The newest bar is older than the configured age limit relative to ``now``."""


class InvalidBarsError(InferenceInputError):
    """Bars break the bar contract (unsorted, duplicate, non-positive prices, wrong types,
    another symbol, unknown columns ...). ``cause`` keeps the underlying contract error."""


class NonFiniteInputError(InferenceInputError):
    """A NaN or infinite value where a number is needed (bar fields, quote fields)."""


class PayloadTooLargeError(InferenceInputError):
    """More bars (or option rows) than the configured maximum."""

    http_status = 413


class IncompleteFeaturesError(InferenceInputError):
    """The last feature row lacks features the model was trained on (too little history
    for a long indicator, or a quote/option chain the model needs was not given)."""


class InvalidQuoteError(InferenceInputError):
    """The quote or option chain given with the bars breaks its contract."""


class ModelUnavailableError(InferenceError):
    """No ensemble member could produce probabilities; ``reasons`` maps member -> why."""

    http_status = 503

    def __init__(self, reasons: Mapping[str, str]) -> None:
        self.reasons = dict(reasons)
        detail = "; ".join(f"{name}: {why}" for name, why in self.reasons.items()) or "no members"
        super().__init__(
            f"no ensemble member could predict ({detail}). Check the model artifacts and "
            "the members' logs, or roll back to the previous champion."
        )
