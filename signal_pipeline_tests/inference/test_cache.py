"""Signal cache: hits within the TTL, misses after, content-keyed; the Redis backend."""

from __future__ import annotations

import uuid

import pandas as pd
import pytest

from signal_pipeline.inference import InProcessCache, RedisCache, SignalEngine
from signal_pipeline.inference.cache import request_digest
from signal_pipeline_tests.inference.conftest import Trained, just_after, recent_bars

REDIS_URL = "redis://127.0.0.1:6379/0"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_engine_answers_repeats_from_cache_until_ttl(trained: Trained) -> None:
    clock = FakeClock()
    cache = InProcessCache(ttl=30.0, clock=clock)
    engine = SignalEngine(trained.ensemble, model_version="v", spec=trained.spec, cache=cache)
    bars = recent_bars(trained.bars, "AAA", 300)
    now = just_after(bars)
    first = engine.infer("AAA", bars, now=now)
    assert not first.from_cache and first.emitted
    clock.now = 29.0
    hit = engine.infer("AAA", bars, now=now)
    assert hit.from_cache and not hit.emitted
    assert hit.signal == first.signal and hit.proba == first.proba
    clock.now = 31.0
    after = engine.infer("AAA", bars, now=now)
    assert not after.from_cache
    assert (cache.hits, cache.misses) == (1, 2)


def test_changed_bars_or_model_version_miss(trained: Trained) -> None:
    cache = InProcessCache(ttl=30.0)
    bars = recent_bars(trained.bars, "AAA", 300)
    now = just_after(bars)
    engine = SignalEngine(trained.ensemble, model_version="v1", spec=trained.spec, cache=cache)
    engine.infer("AAA", bars, now=now)
    changed = bars.copy()
    changed.loc[10, "volume"] += 1.0
    assert not engine.infer("AAA", changed, now=now).from_cache
    other = SignalEngine(trained.ensemble, model_version="v2", spec=trained.spec, cache=cache)
    assert not other.infer("AAA", bars, now=now).from_cache


def test_cache_hit_of_stale_bars_is_still_refused(trained: Trained) -> None:
    from signal_pipeline.inference import StaleBarsError

    engine = SignalEngine(
        trained.ensemble, model_version="v", spec=trained.spec, cache=InProcessCache(ttl=3600.0)
    )
    bars = recent_bars(trained.bars, "AAA", 300)
    engine.infer("AAA", bars, now=just_after(bars))
    with pytest.raises(StaleBarsError):
        engine.infer("AAA", bars, now=just_after(bars) + pd.Timedelta(hours=1))


def test_lru_evicts_oldest() -> None:
    cache = InProcessCache(ttl=60.0, maxsize=2)
    for key in ("a", "b", "c"):
        cache.set(key, object())  # type: ignore[arg-type]
    assert cache.get("a") is None and cache.get("c") is not None
    assert len(cache) == 2


def test_digest_depends_on_every_value(trained: Trained) -> None:
    bars = recent_bars(trained.bars, "AAA", 50)
    base = request_digest(bars, None, None)
    assert request_digest(bars.copy(), None, None) == base
    changed = bars.copy()
    changed.loc[3, "close"] = changed.loc[3, "close"] + 1e-9
    assert request_digest(changed, None, None) != base
    assert request_digest(bars, {"bid": 1.0}, None) != base


@pytest.fixture
def redis_cache() -> RedisCache:
    redis = pytest.importorskip("redis")
    try:
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except redis.RedisError:
        pytest.skip(f"no Redis at {REDIS_URL}: start one to run this test")
    cache = RedisCache(REDIS_URL, ttl=30.0, prefix=f"test-{uuid.uuid4().hex}:")
    yield cache
    cache.clear()


def test_redis_round_trip(trained: Trained, redis_cache: RedisCache) -> None:
    engine = SignalEngine(trained.ensemble, model_version="v", spec=trained.spec, cache=redis_cache)
    bars = recent_bars(trained.bars, "BBB", 300)
    now = just_after(bars)
    first = engine.infer("BBB", bars, now=now)
    hit = engine.infer("BBB", bars, now=now)
    assert hit.from_cache
    assert hit.signal == first.signal
    assert hit.proba == first.proba and hit.weights == first.weights
    keys = list(redis_cache._client.scan_iter(match=redis_cache.prefix + "*"))
    assert len(keys) == 1
    ttl_ms = redis_cache._client.pttl(keys[0])
    assert 0 < ttl_ms <= 30_000
    redis_cache.clear()
    assert not list(redis_cache._client.scan_iter(match=redis_cache.prefix + "*"))


def test_make_cache_uses_redis_when_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    from signal_pipeline.inference import make_cache

    monkeypatch.delenv("SIGNAL_PIPELINE_REDIS_URL", raising=False)
    assert isinstance(make_cache(10.0), InProcessCache)
    monkeypatch.setenv("SIGNAL_PIPELINE_REDIS_URL", REDIS_URL)
    cache = make_cache(10.0)
    assert isinstance(cache, RedisCache) and cache.url == REDIS_URL
