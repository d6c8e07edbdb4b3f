"""The thread a session's statements run on, so the caller can hold the deadline and stop waiting.

The caller hands each statement over and waits on its `Done` for at most the budget; a statement
that ignores every cancel keeps this thread, never the caller (the executor then abandons the
session and its thread).
"""

from __future__ import annotations

import _thread
import queue
import threading
from typing import Any


class Done:
    """Set once by the statement thread, waited on by the caller: threading.Event's contract on
    one bare lock (an Event builds a Condition per call, a fifth of the hand-off's cost)."""

    __slots__ = ("_lock",)

    def __init__(self) -> None:
        self._lock = _thread.allocate_lock()
        self._lock.acquire()

    def set(self) -> None:
        self._lock.release()

    def wait(self, timeout: float) -> bool:
        if self._lock.acquire(True, max(timeout, 0.0)):
            self._lock.release()  # stays set for a later wait
            return True
        return False


class StatementThread:
    """Runs one session's statements in turn, each job's result in its box."""

    def __init__(self) -> None:
        self.jobs: queue.SimpleQueue = queue.SimpleQueue()
        self.thread = threading.Thread(target=self._loop, name="nl2sql-readonly", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        while True:
            job = self.jobs.get()
            if job is None:
                return
            fn, args, box, done = job
            try:
                box.append((True, fn(*args)))
            except BaseException as err:  # noqa: BLE001 - handed to the caller, which classifies it
                box.append((False, err))
            done.set()

    def submit(self, fn: Any, *args: Any) -> tuple[list, Done]:
        box: list = []
        done = Done()
        self.jobs.put((fn, args, box, done))
        return box, done

    def stop(self, then: Any = None) -> None:
        if then is not None:
            self.jobs.put((then, (), [], Done()))
        self.jobs.put(None)
