"""The evaluation's worker processes: started once, kept warm between calls, set up for speed."""

from __future__ import annotations

import gc
import multiprocessing
import os
import threading
from concurrent.futures import ProcessPoolExecutor
from typing import Any

_POOLS: dict[int, ProcessPoolExecutor] = {}


def pool(workers: int) -> ProcessPoolExecutor:
    """The kept pool of `workers` processes (started on first use)."""
    found = _POOLS.get(workers)
    if found is None:
        context = _context()
        found = _POOLS[workers] = ProcessPoolExecutor(max_workers=workers, mp_context=context,
                                                      initializer=_start_worker, initargs=(context.Value("i", 0),))
    return found


def _start_worker(slot: Any) -> None:
    """Set a worker process up for its lifetime (measured on the shared 2-core machine, 978 items,
    2 workers, load average 7):

    - what it inherited by fork or imported so far is frozen out of the garbage collector, whose
      full passes over it (every parse leaves cyclic trees, so full passes come often) took
      0.77-0.82 s of worker time over 5 calls; frozen, 0.12-0.13 s;
    - it stays on one core of its own: its two threads take turns (the caller waits while the
      executor's statement thread runs the query), and a hand-off that woke the statement thread
      on the other, busy core waited for that core: 0.49-0.59 s per call unpinned, 0.26-0.30 pinned.
    """
    gc.collect()
    gc.freeze()
    if not hasattr(os, "sched_setaffinity"):
        return
    with slot.get_lock():
        index = slot.value
        slot.value += 1
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) > 1:
        os.sched_setaffinity(0, {cpus[index % len(cpus)]})


def _context() -> multiprocessing.context.BaseContext:
    # fork starts workers in milliseconds but is unsafe once other threads exist (Dagster's run
    # workers, webserver): then forkserver.
    method = "fork" if threading.active_count() == 1 and os.name == "posix" else "forkserver"
    return multiprocessing.get_context(method if os.name == "posix" else "spawn")


def shutdown() -> None:
    """Stop the kept worker processes."""
    for kept in _POOLS.values():
        kept.shutdown(cancel_futures=True)
    _POOLS.clear()
