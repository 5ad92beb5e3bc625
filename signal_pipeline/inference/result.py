"""``Inference``: a signal together with what the service needs to know about it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from signal_pipeline.signals.model import Signal


@dataclass(frozen=True)
class Inference:
    """The engine's answer to one request.

    ``signal`` is the :class:`Signal` (spec schema); ``proba`` the calibrated
    (p_sell, p_hold, p_buy); ``members_used`` and ``weights`` the members that voted and
    their renormalised weights; ``failures`` the members left out and why (non-empty =
    ``degraded``); ``filtered_by`` why a BUY/SELL became HOLD; ``emitted`` False when the
    signal repeats the symbol's still-active previous one (or is a cache hit of an
    already answered request); ``from_cache`` True when served from the signal cache;
    ``arm`` the A/B arm that answered (empty outside an A/B test).
    """

    signal: Signal
    proba: tuple[float, float, float]
    members_used: tuple[str, ...]
    weights: Mapping[str, float]
    failures: Mapping[str, str] = field(default_factory=dict)
    filtered_by: tuple[str, ...] = ()
    emitted: bool = True
    from_cache: bool = False
    latency_s: float = 0.0
    arm: str = ""

    @property
    def degraded(self) -> bool:
        return bool(self.failures)

    @property
    def model_version(self) -> str | None:
        return self.signal.model_version

    def with_(self, **changes: Any) -> Inference:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict (what the Redis cache stores and a service can return)."""
        return {
            "signal": self.signal.to_dict(),
            "proba": list(self.proba),
            "members_used": list(self.members_used),
            "weights": dict(self.weights),
            "failures": dict(self.failures),
            "filtered_by": list(self.filtered_by),
            "degraded": self.degraded,
            "emitted": self.emitted,
            "from_cache": self.from_cache,
            "latency_s": self.latency_s,
            "arm": self.arm,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Inference:
        p_sell, p_hold, p_buy = (float(p) for p in data["proba"])
        return cls(
            signal=Signal.from_dict(data["signal"]),
            proba=(p_sell, p_hold, p_buy),
            members_used=tuple(data["members_used"]),
            weights={str(k): float(v) for k, v in data["weights"].items()},
            failures={str(k): str(v) for k, v in data["failures"].items()},
            filtered_by=tuple(data["filtered_by"]),
            emitted=bool(data["emitted"]),
            from_cache=bool(data["from_cache"]),
            latency_s=float(data["latency_s"]),
            arm=str(data.get("arm", "")),
        )
