"""Signal cache: a repeated request within the TTL is answered without recomputation.

The key is (model version, symbol, last bar stamp, digest of the request's bars, quote
and option chain): the same bytes for the same model give the same signal, so the
cached answer is exactly what recomputation would give. Only valid requests reach the
cache (bad ones raise before a value is stored), and the digest covers every column,
so a changed bar is a different key.

Backends: :class:`InProcessCache` (LRU + TTL, thread-safe; the default) and
:class:`RedisCache` (shared by service replicas; used when ``SIGNAL_PIPELINE_REDIS_URL``
is set, see :func:`make_cache`).
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Mapping
from typing import Any, Protocol

import numpy as np
import pandas as pd

from signal_pipeline.inference.result import Inference
from signal_pipeline.settings import get_settings

DEFAULT_PREFIX = "signal-pipeline:signal-cache:"


def _digest_frame(h: Any, frame: pd.DataFrame) -> None:
    h.update(f"frame{frame.shape}".encode())
    for name in frame.columns:
        column = frame[name]
        h.update(f"|{name}:{column.dtype}|".encode())
        dtype = column.dtype
        if isinstance(dtype, pd.DatetimeTZDtype) or pd.api.types.is_datetime64_dtype(dtype):
            h.update(np.ascontiguousarray(column.array.asi8).tobytes())
        elif pd.api.types.is_numeric_dtype(dtype) and not pd.api.types.is_extension_array_dtype(
            dtype
        ):
            h.update(np.ascontiguousarray(column.to_numpy()).tobytes())
        else:  # text or mixed: its repr is as exact as we can get cheaply
            h.update("\x1f".join(map(repr, column.tolist())).encode())


def request_digest(*parts: pd.DataFrame | Mapping[str, Any] | pd.Series | None) -> str:
    """A 128-bit hex digest of the request's tables and mappings (order matters)."""
    h = hashlib.blake2b(digest_size=16)
    for part in parts:
        if part is None:
            h.update(b"none")
        elif isinstance(part, pd.DataFrame):
            _digest_frame(h, part)
        else:
            items = sorted((str(k), repr(v)) for k, v in dict(part).items())
            h.update(json.dumps(items).encode())
    return h.hexdigest()


class SignalCache(Protocol):
    """What the engine needs of a cache backend."""

    ttl: float

    def get(self, key: str) -> Inference | None: ...

    def set(self, key: str, value: Inference) -> None: ...

    def clear(self) -> None: ...


class InProcessCache:
    """LRU + TTL in this process. ``clock`` (seconds, monotonic) is injectable for tests."""

    def __init__(
        self, ttl: float, maxsize: int = 4096, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = float(ttl)
        self.maxsize = int(maxsize)
        self._clock = clock
        self._items: OrderedDict[str, tuple[float, Inference]] = OrderedDict()
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Inference | None:
        with self._lock:
            item = self._items.get(key)
            if item is None or item[0] <= self._clock():
                if item is not None:
                    del self._items[key]
                self.misses += 1
                return None
            self._items.move_to_end(key)
            self.hits += 1
            return item[1]

    def set(self, key: str, value: Inference) -> None:
        if self.ttl <= 0:
            return
        with self._lock:
            self._items[key] = (self._clock() + self.ttl, value)
            self._items.move_to_end(key)
            while len(self._items) > self.maxsize:
                self._items.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._items.clear()

    def __len__(self) -> int:
        return len(self._items)


class RedisCache:
    """The same contract on Redis (``SET key value PX ttl``), values as JSON. Keys are
    ``prefix + key``; :meth:`clear` deletes only keys under this prefix."""

    def __init__(self, url: str, ttl: float, prefix: str = DEFAULT_PREFIX) -> None:
        import redis  # optional backend: only needed when configured

        self.ttl = float(ttl)
        self.prefix = prefix
        self.url = url
        self._client = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self.hits = 0
        self.misses = 0

    def get(self, key: str) -> Inference | None:
        raw = self._client.get(self.prefix + key)
        if raw is None:
            self.misses += 1
            return None
        self.hits += 1
        return Inference.from_dict(json.loads(raw))

    def set(self, key: str, value: Inference) -> None:
        if self.ttl <= 0:
            return
        payload = json.dumps(value.to_dict())
        self._client.set(self.prefix + key, payload, px=max(1, int(self.ttl * 1000)))

    def clear(self) -> None:
        keys = list(self._client.scan_iter(match=self.prefix + "*", count=500))
        if keys:
            self._client.delete(*keys)


def make_cache(ttl: float, maxsize: int = 4096, redis_url: str | None = None) -> SignalCache:
    """Redis when ``redis_url`` (or the settings' ``redis_url``) is set, else in-process."""
    url = redis_url or get_settings().redis_url
    if url:
        return RedisCache(url, ttl)
    return InProcessCache(ttl, maxsize)
