"""Where tasks run: worker threads or worker processes (Ray lives in ``_ray.py``).

Every backend offers the same four operations to the scheduler in ``_runner.py``: start an
attempt under a key, wait for finished attempts, cancel one that ran out of time, close.
The scheduler owns concurrency, deadlines and retries, so each backend stays small and all
of them behave alike.

- threads: cheap and shares the driver's memory, but a thread cannot be killed; a timed-out
  agent is asked to stop (``agent.interrupt()``, honoured at the end of its current step),
  its result is recorded as a timeout at once, and whatever it returns later is dropped;
- processes: a pool of spawned workers, each building agents from a pickled ``make_agent``;
  a timed-out worker is killed and replaced, so even a task stuck in C code or a sleeping
  model call cannot hold the batch.
"""

from __future__ import annotations

import multiprocessing
import os
import pickle
import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from typing import Any, Protocol

from ._execute import Outcome, format_error, run_task
from ._records import BatchTask

__all__ = ["Backend", "ProcessBackend", "ThreadBackend", "check_picklable"]


class Backend(Protocol):
    """What the scheduler needs from a place that runs tasks."""

    reports_start: bool
    """True if ``wait`` reports ``(key, None)`` when an attempt really begins (the task
    timeout then counts from there, not from a worker's start-up)."""

    def start(self, key: int, task: BatchTask) -> None: ...

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        """Finished attempts (and begun ones, see ``reports_start``); blocks up to
        ``timeout`` seconds (None: until something happens). Any backend may also report
        ``(key, None)`` for an attempt it had to start over (the Ray actor pool does when it
        kills an actor): its timeout then counts again from there."""
        ...

    def cancel(self, key: int) -> None: ...

    def close(self) -> None: ...


def check_picklable(make_agent: Callable[..., Any], backend: str, dumps: Callable[[Any], bytes]) -> bytes:
    """``make_agent`` pickled, or a TypeError saying how to write one that travels."""
    try:
        return dumps(make_agent)
    except Exception as exc:
        name = getattr(make_agent, "__qualname__", None) or type(make_agent).__name__
        raise TypeError(
            f"backend={backend!r} sends make_agent to other processes, so it must be picklable, and "
            f"{name!r} is not ({format_error(exc)}). Define it as a function at module level (not a "
            "lambda or a function nested in another one), build the model and tools inside it, and "
            "pass settings through the task's dict (make_agent(task) receives the task)."
        ) from exc


# ---------------------------------------------------------------------------------- threads
class ThreadBackend:
    """One daemon thread per attempt; timeouts interrupt the agent and move on."""

    reports_start = False

    def __init__(self, make_agent: Callable[..., Any]) -> None:
        self._make_agent = make_agent
        self._finished: queue.Queue[tuple[int, Outcome]] = queue.Queue()
        self._lock = threading.Lock()
        self._agents: dict[int, Any] = {}
        self._cancelled: set[int] = set()

    def start(self, key: int, task: BatchTask) -> None:
        thread = threading.Thread(
            target=self._work, args=(key, task), name=f"smolagents-batch-{task.id}", daemon=True
        )
        thread.start()

    def _work(self, key: int, task: BatchTask) -> None:
        def keep(agent: Any) -> None:
            with self._lock:
                self._agents[key] = agent
                cancelled = key in self._cancelled
            if cancelled:  # timed out while make_agent was still building it
                _interrupt(agent)

        outcome = run_task(self._make_agent, task, on_agent=keep)
        with self._lock:
            self._agents.pop(key, None)
            self._cancelled.discard(key)
        self._finished.put((key, outcome))

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        try:
            done: list[tuple[int, Outcome | None]] = [self._finished.get(timeout=timeout)]
        except queue.Empty:
            return []
        while True:
            try:
                done.append(self._finished.get_nowait())
            except queue.Empty:
                return done

    def cancel(self, key: int) -> None:
        with self._lock:
            self._cancelled.add(key)
            agent = self._agents.get(key)
        if agent is not None:
            _interrupt(agent)

    def close(self) -> None:
        """Interrupt what is still running; never waits for it (a hung thread stays hung)."""
        with self._lock:
            agents = list(self._agents.values())
        for agent in agents:
            _interrupt(agent)


def _interrupt(agent: Any) -> None:
    interrupt = getattr(agent, "interrupt", None)
    if callable(interrupt):
        try:
            interrupt()
        except Exception:
            pass


# -------------------------------------------------------------------------------- processes
def _exit_with_parent() -> None:
    """Daemon thread of a worker: a killed driver must not leave a hung task running."""
    parent = multiprocessing.parent_process()
    if parent is not None:
        wait([parent.sentinel])
        os._exit(1)


def _worker_main(conn: Connection, make_agent_blob: bytes) -> None:
    """A worker process: build an agent and run a task for each request until told to stop."""
    threading.Thread(target=_exit_with_parent, daemon=True).start()
    try:
        make_agent: Any = pickle.loads(make_agent_blob)
        load_error = None
    except Exception as exc:  # e.g. defined in an interactive __main__ the child cannot import
        make_agent, load_error = None, f"could not load make_agent in the worker process: {format_error(exc)}"
    while True:
        try:
            request = conn.recv()
        except (EOFError, OSError):
            return
        if request is None:
            return
        key, task = request
        conn.send(("begun", key))
        if load_error is not None:
            outcome = Outcome(error=load_error)
        else:
            outcome = run_task(make_agent, task, portable=True)
        try:
            conn.send((key, outcome))
        except (BrokenPipeError, EOFError, OSError):
            return  # the driver is gone
        except Exception as exc:  # e.g. an unpicklable exception slipped into the outcome
            conn.send((key, Outcome(error=f"could not send the result back: {format_error(exc)}")))


@dataclass
class _Worker:
    process: Any
    conn: Connection


class ProcessBackend:
    """A pool of spawned worker processes, grown on demand up to the scheduler's concurrency."""

    reports_start = True

    def __init__(self, make_agent_blob: bytes, start_method: str = "spawn") -> None:
        self._blob = make_agent_blob
        # Any: typeshed types get_context(str) as BaseContext, and only its concrete subclasses
        # declare the context-bound Process class this uses.
        self._context: Any = multiprocessing.get_context(start_method)
        self._idle: list[_Worker] = []
        self._busy: dict[int, _Worker] = {}
        self._spawned = 0

    def _spawn(self) -> _Worker:
        self._spawned += 1
        parent, child = self._context.Pipe()
        process = self._context.Process(
            target=_worker_main,
            args=(child, self._blob),
            name=f"smolagents-batch-worker-{self._spawned}",
            daemon=True,
        )
        process.start()
        child.close()
        return _Worker(process, parent)

    def start(self, key: int, task: BatchTask) -> None:
        worker = None
        while self._idle and worker is None:
            worker = self._idle.pop()
            if not worker.process.is_alive():  # died while idle (OOM killer, ...)
                self._discard(worker)
                worker = None
        worker = worker or self._spawn()
        self._busy[key] = worker
        try:
            worker.conn.send((key, task))
        except Exception as exc:
            self._busy.pop(key)
            self._discard(worker)
            raise TypeError(
                f"task {task.id!r} cannot be sent to a worker process: {format_error(exc)}"
            ) from exc

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        if not self._busy:
            return []
        by_conn = {worker.conn: key for key, worker in self._busy.items()}
        by_sentinel = {worker.process.sentinel: key for key, worker in self._busy.items()}
        ready = wait([*by_conn, *by_sentinel], timeout)
        events: list[tuple[int, Outcome | None]] = []
        for key in {by_conn[obj] if obj in by_conn else by_sentinel[obj] for obj in ready}:
            worker = self._busy[key]
            outcome, alive = self._receive(worker, key, events)
            if outcome is None and alive:
                continue  # it only reported that the attempt began
            del self._busy[key]
            if outcome is None:
                worker.process.join(timeout=5)
                code = worker.process.exitcode
                outcome = Outcome(error=f"WorkerDied: the worker process exited (exit code {code}) mid-task")
                self._discard(worker)
            else:
                self._idle.append(worker)
            events.append((key, outcome))
        return events

    @staticmethod
    def _receive(
        worker: _Worker, key: int, events: list[tuple[int, Outcome | None]]
    ) -> tuple[Outcome | None, bool]:
        """Read what the worker sent: ``(outcome or None, whether the worker is still usable)``."""
        try:
            while worker.conn.poll():
                tag, payload = worker.conn.recv()
                if tag == "begun":
                    events.append((key, None))
                elif tag == key:
                    return payload, True
        except (EOFError, OSError):
            return None, False
        return None, worker.process.is_alive()

    def cancel(self, key: int) -> None:
        worker = self._busy.pop(key, None)
        if worker is not None:
            self._discard(worker)

    def _discard(self, worker: _Worker) -> None:
        if worker.process.is_alive():
            worker.process.kill()
        worker.process.join(timeout=5)
        worker.conn.close()

    def close(self) -> None:
        for worker in self._idle:
            try:
                worker.conn.send(None)
            except Exception:
                pass
        for worker in self._idle:
            worker.process.join(timeout=5)
            self._discard(worker)
        for worker in self._busy.values():
            self._discard(worker)
        self._idle.clear()
        self._busy.clear()
