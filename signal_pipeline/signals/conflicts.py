"""Conflict resolution: one decision when signals for a symbol disagree.

Sources of disagreement: ensemble members, timeframes, A/B arms, or a new signal
against one still active. Policy ``confidence-recency-v1``:

1. Each candidate gets a weight ``w = confidence * 0.5 ** (age / half_life) * source``,
   where ``age = now - created_at`` and ``source`` is ``source_weights[model_version]``
   (default 1): confident, fresh, trusted signals count most.
2. Weights are summed per direction and normalised to shares ``s_BUY + s_SELL + s_HOLD = 1``.
3. The direction with the largest share wins, unless it is BUY or SELL and its lead over
   the opposite direction, ``s_win - s_opposite``, is below ``min_margin``: then the
   decision is HOLD (too close to call, so no trade). A tie between BUY and SELL is HOLD.
4. The decided signal copies the newest candidate of the winning direction (targets,
   stop, size, horizon); its confidence is the recency x source weighted mean confidence
   of the agreeing candidates. A forced HOLD copies the newest candidate's timing, drops
   target/stop, sets size 0, and has confidence ``1 - |s_BUY - s_SELL|``.
5. The decision, the shares and the policy name are appended to ``reasoning``.

The decided signal's idempotency key is re-derived from (symbol, type, model version,
created_at): a decision that keeps a stored signal's direction and time *is* that signal,
so writing it stores nothing new, and re-running the resolution is idempotent.

When every candidate agrees there is no conflict: the newest one is returned unchanged.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from signal_pipeline.signals.model import Signal, SignalType, to_utc
from signal_pipeline.signals.retrieval import active_signals
from signal_pipeline.signals.store import SignalStore

_OPPOSITE = {SignalType.BUY: SignalType.SELL, SignalType.SELL: SignalType.BUY}
# A decided signal is a new signal: no id, not executed, no outcome; its key is re-derived.
_FRESH: dict[str, object] = {
    "id": None,
    "idempotency_key": None,
    "executed": False,
    "performance": None,
}


class ConflictInputError(ValueError):
    """Candidates cannot be resolved together (none given, or several symbols)."""


@dataclass(frozen=True)
class ConflictPolicy:
    """Tunables of ``confidence-recency-v1`` (see the module docstring)."""

    half_life: timedelta = timedelta(minutes=15)
    min_margin: float = 0.10
    source_weights: Mapping[str, float] = field(default_factory=dict)
    name: str = "confidence-recency-v1"

    def __post_init__(self) -> None:
        if self.half_life <= timedelta(0):
            raise ValueError(f"half_life={self.half_life} must be positive")
        if not 0.0 <= self.min_margin < 1.0:
            raise ValueError(f"min_margin={self.min_margin} must be within [0, 1)")
        bad = {k: v for k, v in self.source_weights.items() if not v >= 0}
        if bad:
            raise ValueError(f"source_weights {bad} must be >= 0")


@dataclass(frozen=True)
class Resolution:
    """The decided signal and how it was decided."""

    signal: Signal
    shares: dict[str, float]
    conflict: bool
    reason: str


def _recency(signal: Signal, now: datetime, policy: ConflictPolicy) -> float:
    age = max((now - signal.created_at).total_seconds(), 0.0)
    source = policy.source_weights.get(signal.model_version or "", 1.0)
    return 0.5 ** (age / policy.half_life.total_seconds()) * source


def resolve_conflict(
    candidates: Sequence[Signal],
    *,
    now: datetime | None = None,
    policy: ConflictPolicy | None = None,
) -> Resolution:
    """Decide one signal from candidates for the same symbol (policy in the module docstring)."""
    policy = policy or ConflictPolicy()
    if not candidates:
        raise ConflictInputError("resolve_conflict needs at least one candidate signal")
    symbols = sorted({c.symbol for c in candidates})
    if len(symbols) > 1:
        raise ConflictInputError(
            f"candidates span symbols {symbols}; resolve each symbol separately"
        )
    now = to_utc(now or max(c.created_at for c in candidates), "now")
    newest = max(candidates, key=lambda c: (c.created_at, c.confidence))
    kinds = {SignalType(c.signal_type) for c in candidates}
    if len(kinds) == 1:
        return Resolution(newest, {k.value: float(k in kinds) for k in SignalType}, False, "agree")

    recency = [_recency(c, now, policy) for c in candidates]
    weights = [c.confidence * r for c, r in zip(candidates, recency, strict=True)]
    total = sum(weights)
    scores = {k: 0.0 for k in SignalType}
    for c, w in zip(candidates, weights, strict=True):
        scores[SignalType(c.signal_type)] += w
    shares = {k: (v / total if total > 0 else 0.0) for k, v in scores.items()}
    counts = {k: sum(SignalType(c.signal_type) is k for c in candidates) for k in SignalType}

    winner = max(SignalType, key=lambda k: (shares[k], k is SignalType.HOLD))
    gap = abs(shares[SignalType.BUY] - shares[SignalType.SELL])
    lead = shares[winner] - shares[_OPPOSITE[winner]] if winner in _OPPOSITE else 1.0
    if winner in _OPPOSITE and (lead <= 0.0 or lead < policy.min_margin):  # a tie is HOLD too
        reason = f"lead {lead:.2f} < {policy.min_margin:.2f}" if lead > 0 else "BUY/SELL tie"
        winner = SignalType.HOLD
        decided = newest.replace(
            signal_type=SignalType.HOLD,
            target_price=None,
            stop_loss=None,
            position_size=0.0,
            confidence=1.0 - gap,
            **_FRESH,
        )
    else:
        agreeing = [
            (c, r) for c, r in zip(candidates, recency, strict=True) if c.signal_type is winner
        ]
        base = max((c for c, _ in agreeing), key=lambda c: (c.created_at, c.confidence))
        norm = sum(r for _, r in agreeing)
        confidence = (
            sum(c.confidence * r for c, r in agreeing) / norm if norm > 0 else base.confidence
        )
        reason = f"largest share {shares[winner]:.2f}"
        decided = base.replace(confidence=min(max(confidence, 0.0), 1.0), **_FRESH)

    summary = ", ".join(f"{k.value} {shares[k]:.2f} ({counts[k]})" for k in SignalType)
    note = f"[conflict resolved by {policy.name}: {summary}; {reason} -> {winner.value}]"
    decided = decided.replace(reasoning=f"{decided.reasoning} {note}".strip())
    return Resolution(decided, {k.value: v for k, v in shares.items()}, True, reason)


def resolve_against_active(
    store: SignalStore,
    new_signal: Signal,
    *,
    now: datetime | None = None,
    policy: ConflictPolicy | None = None,
) -> Resolution:
    """Resolve a new signal against the signals still active for its symbol."""
    now = to_utc(now or datetime.now(UTC), "now")
    active = active_signals(store, now=now, symbol=new_signal.symbol)
    return resolve_conflict([*active, new_signal], now=now, policy=policy)
