"""Ordered, bounded process-pool map for per-symbol work (symbols are independent).

``ordered_map(fn, tasks, workers)`` yields ``fn(*task)`` for each task in input order,
computed by ``workers`` processes, with at most ``in_flight`` tasks submitted and not yet
yielded (so memory holds that many results, not the whole table). Processes are started
with "spawn": "fork" would copy the parent's threads and locks (Dagster's, pyarrow's,
duckdb's) into children that may then deadlock.

An exception raised by ``fn`` in a worker is re-raised in the parent with the same type,
message and attributes as when ``fn`` runs in the parent. The pool cannot send most of our
exceptions as they are: their ``__init__`` takes several fields and builds the message, so
pickle's default (``cls(*args)``, args = the message) fails on the way back and breaks the
pool. The worker sends the class, ``args`` and ``__dict__`` instead, and the parent
rebuilds the instance without calling ``__init__``.
"""

from __future__ import annotations

import multiprocessing
import pickle
import traceback
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from typing import Any, NamedTuple

START_METHOD = "spawn"


class WorkerCountError(ValueError):
    """A ``workers`` argument that is not a positive integer."""


class _Failure(NamedTuple):
    """An exception of ``fn`` in a worker, in a form that always pickles."""

    cls: type[BaseException]
    args: tuple[Any, ...]
    state: dict[str, Any]
    remote_traceback: str

    def rebuild(self) -> BaseException:
        exc = self.cls.__new__(self.cls)
        exc.args = self.args
        exc.__dict__.update(self.state)
        exc.add_note(f"raised in a feature worker process:\n{self.remote_traceback}")
        return exc


def check_workers(workers: int | None) -> int:
    """``None`` -> 1 (serial); otherwise a positive int, else :class:`WorkerCountError`."""
    if workers is None:
        return 1
    if isinstance(workers, bool) or not isinstance(workers, int) or workers < 1:
        raise WorkerCountError(
            f"workers={workers!r}: must be None or an integer >= 1 (None or 1 computes "
            "serially in this process; n > 1 uses n processes, e.g. min(2, os.cpu_count()))"
        )
    return workers


def _call(fn: Callable[..., Any], args: tuple[Any, ...]) -> Any:
    """Run in a worker: ``fn(*args)``, or a :class:`_Failure` describing its exception."""
    try:
        return fn(*args)
    except Exception as exc:
        failure = _Failure(type(exc), exc.args, dict(vars(exc)), traceback.format_exc())
        try:
            pickle.dumps(failure)
        except Exception:  # an attribute that does not pickle: keep type and message
            failure = failure._replace(state={})
        return failure


def ordered_map(
    fn: Callable[..., Any],
    tasks: Iterable[tuple[Any, ...]],
    workers: int,
    in_flight: int | None = None,
    discard: Callable[[Any], None] | None = None,
    warm: Callable[[], Any] | None = None,
) -> Iterator[Any]:
    """``fn(*task)`` for each task, in order, on ``workers`` processes. ``fn`` must be a
    module-level function (the worker imports it by name); ``in_flight`` defaults to
    ``2 * workers``: enough to keep every worker busy while the parent consumes a result.
    ``discard`` releases a result that was computed but will not be yielded (an error or
    an abandoned generator), e.g. a shared-memory file. ``warm``: a module-level function
    every worker runs as soon as it starts (imports, loading compiled code); the processes
    are started before the first task is drawn, so their start-up (~1 s each) overlaps
    the parent's preparing the tasks. Its errors are ignored (a task meets them again)."""
    limit = in_flight or 2 * workers
    pending: deque[Future[Any]] = deque()
    context = multiprocessing.get_context(START_METHOD)
    executor = ProcessPoolExecutor(max_workers=workers, mp_context=context)
    try:
        if warm is not None:
            for _ in range(workers):  # one submit starts one process
                executor.submit(warm)
        task_iter = iter(tasks)
        for task in task_iter:
            pending.append(executor.submit(_call, fn, task))
            if len(pending) >= limit:
                break
        while pending:
            result = pending.popleft().result()
            if isinstance(result, _Failure):
                raise result.rebuild()
            next_task = next(task_iter, None)
            if next_task is not None:
                pending.append(executor.submit(_call, fn, next_task))
            yield result
    finally:
        # Also on an error or an abandoned generator: drop queued tasks, wait for the
        # (at most ``workers``) running ones so no process outlives the call.
        executor.shutdown(wait=True, cancel_futures=True)
        for future in pending:
            done = future.done() and not future.cancelled() and future.exception() is None
            if discard is not None and done:
                discard(future.result())
