"""``SignalEngine``: recent bars of a symbol in, a :class:`Signal` out.

Two paths, one model:

* :meth:`SignalEngine.signal_for` takes a batch of recent bars (plus the latest quote
  and option chain when given) and computes the features with
  :func:`signal_pipeline.features.compute_features`, the code that built the training
  set. The signal therefore equals, bit for bit, what ``compute_features`` on the same
  bars followed by ``TrainedEnsemble.predict_signal`` gives offline (tested). The
  online engine's warm start agrees with it only to ~1e-12, so the batch code serves
  batch requests.
* :meth:`SignalEngine.update` takes one new bar per symbol into per-symbol state kept
  by :class:`signal_pipeline.features.OnlineFeatureEngine` (equal to the batch row to
  ~1e-12; see docs/features.md) for streaming.

Either way the members vote through :class:`MemberVoter` (a failing member degrades
the signal instead of failing it), the filters may turn BUY/SELL into HOLD, the order
levels come from the ATR feature, repeats are marked not emitted, the answer is cached
and the monitor records it. Errors are :mod:`signal_pipeline.inference.errors` classes
carrying their HTTP status.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.features.pipeline import FeatureInputError, compute_features, resolve_spec
from signal_pipeline.features.spec import FeatureSpec
from signal_pipeline.features.timeframes import TIMEFRAMES, BarStreamError
from signal_pipeline.inference.cache import SignalCache, make_cache, request_digest
from signal_pipeline.inference.confidence import order_levels
from signal_pipeline.inference.config import EngineConfig, EngineConfigError
from signal_pipeline.inference.errors import (
    IncompleteFeaturesError,
    InsufficientBarsError,
    InvalidBarsError,
)
from signal_pipeline.inference.filters import (
    SignalDeduplicator,
    apply_signal_filters,
    relative_spread,
)
from signal_pipeline.inference.monitor import DriftMonitor
from signal_pipeline.inference.reasoning import FeatureAttributor, reasoning_text
from signal_pipeline.inference.result import Inference
from signal_pipeline.inference.streaming import FeatureStreams
from signal_pipeline.inference.validation import (
    MAX_CHAIN_ROWS,
    check_bars_shape,
    check_chain,
    check_fresh,
    check_symbol,
    quote_frame,
    validate_request_bars,
)
from signal_pipeline.inference.voting import MemberVoter, Vote, load_ensemble_tolerant
from signal_pipeline.labels import CLASS_NAMES
from signal_pipeline.models.trained import TrainedEnsemble
from signal_pipeline.signals.model import Signal

log = logging.getLogger(__name__)


class SignalEngine:
    """Signals from a trained ensemble (see the module docstring and docs/inference.md).

    ``ensemble``: a :class:`TrainedEnsemble`, or a callable returning one (a registry
    loader). ``model_version``: recorded on every signal and in the cache key. ``spec``:
    the feature spec the ensemble was trained with (default: ``config/features.yaml``).
    ``config``: :class:`EngineConfig` or a mapping of overrides. ``cache``: a backend,
    None for :func:`make_cache` (Redis when configured, else in-process), False for none.
    ``monitor``: a :class:`DriftMonitor` fed with every answer. ``load_failures``:
    members that failed to load (``{name: reason}``), reported as degradation.
    """

    def __init__(
        self,
        ensemble: TrainedEnsemble | Callable[[], TrainedEnsemble],
        *,
        model_version: str,
        spec: FeatureSpec | Mapping[str, Any] | str | None = None,
        config: EngineConfig | Mapping[str, Any] | None = None,
        cache: SignalCache | bool | None = None,
        monitor: DriftMonitor | None = None,
        load_failures: Mapping[str, str] | None = None,
    ) -> None:
        trained = ensemble if isinstance(ensemble, TrainedEnsemble) else ensemble()
        self.trained = trained
        self.model_version = str(model_version)
        self.spec = resolve_spec(spec)
        self.config = EngineConfig.build(config)
        self.feature_names = list(trained.feature_names)
        self._voter = MemberVoter(
            trained.ensemble, load_failures=load_failures, member_threads=self.config.member_threads
        )
        self._attributor = FeatureAttributor(
            trained.ensemble, self.feature_names, self.config.explain
        )
        self.min_bars = self.config.min_bars or self._default_min_bars()
        trained_hash = trained.metrics.get("feature_spec_hash") or trained.config.get(
            "feature_spec_hash"
        )
        if isinstance(trained_hash, str) and trained_hash != self.spec.version_hash:
            raise EngineConfigError(
                f"the model was trained on feature spec {trained_hash[:12]}… but the engine "
                f"was given spec {self.spec.version_hash[:12]}…: pass the training spec."
            )
        if self.config.atr_feature not in self.spec.technical_columns:
            raise EngineConfigError(
                f"atr_feature {self.config.atr_feature!r} is not produced by the feature spec: "
                "add the atr indicator to the spec or set EngineConfig(atr_feature=...)."
            )
        if cache is None or cache is True:
            self.cache: SignalCache | None = make_cache(
                self.config.cache_ttl, self.config.cache_size
            )
        else:
            # Not ``cache or None``: an empty cache has len 0 and is falsy.
            self.cache = None if cache is False else cache
        self.monitor = monitor
        self.deduplicator = SignalDeduplicator()
        self._streams = FeatureStreams(
            self.spec, self.feature_names, self.context_rows, self.config.atr_feature
        )

    # ----------------------------------------------------------------- construction
    @classmethod
    def from_folder(
        cls, path: str | Path, *, model_version: str | None = None, **kwargs: Any
    ) -> SignalEngine:
        """An engine on a ``TrainedEnsemble.save`` folder. Members that fail to load are
        left out and reported (degraded signals); none loading raises
        :class:`ModelUnavailableError`. ``model_version`` defaults to the folder name."""
        trained, failures = load_ensemble_tolerant(path)
        version = model_version or Path(path).name
        return cls(trained, model_version=version, load_failures=failures, **kwargs)

    def _default_min_bars(self) -> int:
        """The longest warm-up among the model's technical features, plus one bucket of
        the largest timeframe (data need not start at a session open)."""
        warmup = self.spec.warmup_rows()
        longest = max((warmup[name] for name in self.feature_names if name in warmup), default=0)
        bucket = max(TIMEFRAMES[tf] for tf in self.spec.timeframes)
        return longest + min(bucket, 390) + 1

    @property
    def load_failures(self) -> dict[str, str]:
        return dict(self._voter.load_failures)

    @property
    def degraded(self) -> bool:
        """True when a member failed to load (calls may still degrade individually)."""
        return bool(self._voter.load_failures)

    @property
    def context_rows(self) -> int:
        """Feature rows the members need (the LSTM's sequence length, else 1)."""
        return self._voter.context

    def info(self) -> dict[str, Any]:
        """What a readiness or info endpoint shows: version, members, degradation, needs."""
        ensemble = self.trained.ensemble
        return {
            "model_version": self.model_version,
            "members": list(ensemble.members),
            "weights": dict(ensemble.weights),
            "confidence_threshold": ensemble.confidence_threshold,
            "load_failures": self.load_failures,
            "degraded": self.degraded,
            "n_features": len(self.feature_names),
            "feature_spec_hash": self.spec.version_hash,
            "min_bars": self.min_bars,
            "context_rows": self.context_rows,
            "cache": type(self.cache).__name__ if self.cache is not None else None,
        }

    # ------------------------------------------------------------------ batch path
    def signal_for(
        self,
        symbol: str,
        bars: pd.DataFrame,
        chain: pd.DataFrame | None = None,
        quote: Mapping[str, Any] | pd.Series | pd.DataFrame | None = None,
        *,
        now: datetime | None = None,
    ) -> Signal:
        """The signal for ``symbol`` from its recent ``bars`` (see :meth:`infer`)."""
        return self.infer(symbol, bars, chain, quote, now=now).signal

    def infer(
        self,
        symbol: str,
        bars: pd.DataFrame,
        chain: pd.DataFrame | None = None,
        quote: Mapping[str, Any] | pd.Series | pd.DataFrame | None = None,
        *,
        now: datetime | None = None,
    ) -> Inference:
        """Signal plus serving details (degradation, filters, cache, emitted). ``now``
        (default: the wall clock) judges staleness; the signal's ``created_at`` is the
        last bar's close, so the same bars always give the same signal."""
        start = time.perf_counter()
        now = datetime.now(UTC) if now is None else now
        symbol = check_symbol(symbol)
        check_bars_shape(symbol, bars, max_bars=self.config.max_bars)
        key = None
        if self.cache is not None:
            key = f"{self.model_version}|{symbol}|{request_digest(bars, _as_table(quote), chain)}"
            hit = self._cache_get(key)
            if hit is not None:
                return self.replay(hit, now, start)
        valid = validate_request_bars(symbol, bars, min_bars=self.min_bars)
        last_ts = pd.Timestamp(valid["ts"].iat[-1])
        check_fresh(last_ts, now, self.config.max_bar_age)
        quotes = quote_frame(symbol, quote, last_ts)
        chains = check_chain(symbol, chain, max_rows=MAX_CHAIN_ROWS)
        try:
            features = compute_features(valid, self.spec, option_chains=chains, quotes=quotes)
        except (BarStreamError, FeatureInputError) as exc:
            raise InvalidBarsError("bars", getattr(exc, "rule", "features"), str(exc)) from exc
        model_rows = self._model_rows(features)
        stamps = pd.DatetimeIndex(features["ts"].iloc[-len(model_rows) :])
        extra = {
            "close": float(valid["close"].iat[-1]),
            "natr": float(features[self.config.atr_feature].iat[-1]),
            "spread": relative_spread(quotes, valid),
        }
        answer = self._answer(symbol, stamps, model_rows, extra)
        answer = answer.with_(latency_s=time.perf_counter() - start)
        if key is not None:
            self._cache_set(key, answer)
        self._observe(answer, model_rows[-1])
        return answer

    def _model_rows(self, features: pd.DataFrame) -> np.ndarray:
        positions = features.columns.get_indexer(self.feature_names)
        missing = [name for name, at in zip(self.feature_names, positions, strict=True) if at < 0]
        if missing:
            raise IncompleteFeaturesError(
                "features",
                "model_features",
                f"the inputs do not produce features {missing[:8]} the model was trained on: "
                "send the quote (for quote features) or option chain (for *_1d option "
                "features) with the bars, or use the feature spec the model was trained with.",
            )
        # The tail rows first, then the model's columns by position: no copy of the
        # whole table's feature columns.
        values = features.iloc[-self.context_rows :, positions].to_numpy(dtype=np.float64)
        self._check_last_row(values[-1])
        return values

    def _check_last_row(self, last: np.ndarray) -> None:
        if self.config.allow_missing_features:
            return
        bad = np.flatnonzero(~np.isfinite(last))
        if bad.size:
            names = [self.feature_names[i] for i in bad[:8]]
            raise IncompleteFeaturesError(
                "features",
                "complete_last_row",
                f"features {names}{' ...' if bad.size > 8 else ''} are undefined on the last "
                f"bar: send more history (at least {self.min_bars} bars; long indicators on "
                "high timeframes may need more) or the quote/option chain they need.",
            )

    # --------------------------------------------------------------- streaming path
    def warm_start(
        self,
        bars: pd.DataFrame,
        quotes: pd.DataFrame | None = None,
        option_chains: pd.DataFrame | None = None,
    ) -> None:
        """Load history (any symbols, bar contract) into the streaming state; the next
        :meth:`update` of each symbol continues its stream."""
        self._streams.warm_start(bars, quotes, option_chains)

    def update(
        self,
        bar: Mapping[str, Any] | pd.Series,
        chain: pd.DataFrame | None = None,
        quote: Mapping[str, Any] | pd.Series | None = None,
        *,
        now: datetime | None = None,
    ) -> Signal:
        """Streaming: the next 1-minute bar of one symbol in, its signal out."""
        return self.infer_update(bar, chain, quote, now=now).signal

    def infer_update(
        self,
        bar: Mapping[str, Any] | pd.Series,
        chain: pd.DataFrame | None = None,
        quote: Mapping[str, Any] | pd.Series | None = None,
        *,
        now: datetime | None = None,
    ) -> Inference:
        """:meth:`update` with the serving details of :meth:`infer`."""
        start = time.perf_counter()
        now = datetime.now(UTC) if now is None else now
        pushed = self._streams.push(bar, chain, quote)
        if pushed.count < self.min_bars:
            raise InsufficientBarsError(
                "bars",
                "min_bars",
                f"{pushed.count} bars of {pushed.symbol} streamed so far; the model's features "
                f"need at least {self.min_bars}: warm_start() the stream with history first.",
            )
        self._check_last_row(pushed.rows[-1])
        check_fresh(pushed.stamps[-1], now, self.config.max_bar_age)
        answer = self._answer(pushed.symbol, pushed.stamps, pushed.rows, pushed.extra)
        answer = answer.with_(latency_s=time.perf_counter() - start)
        self._observe(answer, pushed.rows[-1])
        return answer

    # ------------------------------------------------------------------- the answer
    def _answer(
        self,
        symbol: str,
        stamps: pd.DatetimeIndex,
        rows: np.ndarray,
        extra: Mapping[str, Any],
    ) -> Inference:
        vote = self._voter.vote(rows)
        cfg = self.config
        filtered = apply_signal_filters(
            vote.proba,
            vote.label,
            vote.confidence,
            min_confidence=cfg.min_confidence,
            spread=extra.get("spread"),
            max_spread=cfg.max_spread,
        )
        levels = order_levels(
            filtered.label,
            filtered.confidence,
            extra["close"],
            extra.get("natr"),
            target_atr=cfg.target_atr,
            stop_atr=cfg.stop_atr,
            target_annual_vol=cfg.target_annual_vol,
            max_position=cfg.max_position,
        )
        drivers, local = self._attributor.drivers(rows[-1], filtered.label, cfg.reasoning_top)
        text = reasoning_text(
            label=filtered.label,
            confidence=filtered.confidence,
            proba=vote.proba,
            threshold=self.trained.ensemble.confidence_threshold,
            drivers=drivers,
            members_used=vote.members_used,
            failures=vote.failures,
            filtered_by=filtered.filtered_by,
            local=local,
        )
        created = stamps[-1].to_pydatetime()
        signal = Signal(
            symbol=symbol,
            signal_type=CLASS_NAMES[filtered.label],
            confidence=filtered.confidence,
            target_price=levels.target_price,
            stop_loss=levels.stop_loss,
            position_size=levels.position_size,
            reasoning=text,
            model_version=self.model_version,
            features=self._snapshot(rows[-1], vote),
            created_at=created,
            expires_at=created + cfg.horizon,
        )
        emitted = self.deduplicator.should_emit(signal) if cfg.dedupe else True
        return Inference(
            signal=signal,
            proba=(float(vote.proba[0]), float(vote.proba[1]), float(vote.proba[2])),
            members_used=vote.members_used,
            weights=dict(vote.weights),
            failures=dict(vote.failures),
            filtered_by=filtered.filtered_by,
            emitted=emitted,
        )

    def _snapshot(self, last: np.ndarray, vote: Vote) -> dict[str, Any]:
        """The model's features on the signal's bar, plus the vote under ``_``-prefixed keys
        (never feature names): probabilities, members and the degradation flag."""
        snapshot: dict[str, Any] = dict(zip(self.feature_names, last.tolist(), strict=True))
        snapshot.update(
            {
                "_p_sell": float(vote.proba[0]),
                "_p_hold": float(vote.proba[1]),
                "_p_buy": float(vote.proba[2]),
                "_raw_signal": CLASS_NAMES[vote.label],
                "_members": ",".join(vote.members_used),
                "_degraded": vote.degraded,
                "_failed_members": ",".join(vote.failures),
            }
        )
        return snapshot

    # --------------------------------------------------------------- cache, monitor
    def replay(
        self, hit: Inference, now: datetime | None = None, start: float | None = None
    ) -> Inference:
        """A cached answer served again: its bars still fresh at ``now`` (else
        :class:`StaleBarsError`), marked from the cache and not emitted (it was once),
        and counted by the monitor like any answer."""
        start = time.perf_counter() if start is None else start
        now = datetime.now(UTC) if now is None else now
        check_fresh(pd.Timestamp(hit.signal.created_at), now, self.config.max_bar_age)
        answer = hit.with_(from_cache=True, emitted=False, latency_s=time.perf_counter() - start)
        self._observe(answer, None)
        return answer

    def _cache_get(self, key: str) -> Inference | None:
        assert self.cache is not None
        try:
            return self.cache.get(key)
        # A cache outage (Redis down) must cost speed, never the answer.
        except Exception as exc:
            log.warning("signal cache get failed, computing instead: %s", exc)
            return None

    def _cache_set(self, key: str, value: Inference) -> None:
        assert self.cache is not None
        try:
            self.cache.set(key, value)
        except Exception as exc:
            log.warning("signal cache set failed: %s", exc)

    def _observe(self, answer: Inference, features: np.ndarray | None) -> None:
        if self.monitor is not None:
            self.monitor.observe(answer, features, self.feature_names)


def _as_table(quote: Any) -> Any:
    """The quote in a digestible form (mapping, Series or DataFrame as given)."""
    if isinstance(quote, pd.Series):
        return quote.to_dict()
    return quote
