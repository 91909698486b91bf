"""The Ray backend: attempts run on a pool of threaded Ray actors, or one Ray task each.

``ray`` is imported only here, when ``backend="ray"`` is chosen. With no ``ray_address`` and
no Ray already initialised in the process, a private local runtime is started: bound to
127.0.0.1 (nothing is exposed on the machine's network), no dashboard, and it is shut down
when the batch ends. With ``ray_address`` (or after the caller's own ``ray.init()``) the
existing cluster is used and left running.

Two ways to run attempts, chosen by ``ray_options``:

- the actor pool (default, or ``ray_options`` with only ``runtime_env``): an agent attempt
  mostly waits on its model, so Ray's pattern for I/O-bound work fits it: a few actors
  (``ceil(max_concurrency / 8)``, at most one per free CPU, spread over the nodes), each
  running up to 8 attempts on its own threads. Only those few worker processes start (each
  imports Ray and the library: seconds of CPU), where one task per attempt needs
  ``max_concurrency`` of them, which on a small machine costs more than the batch itself.
  A task's timeout counts from the moment its actor is up. A thread cannot be killed, so a
  timed-out attempt is recorded as a timeout at once and its actor takes no more work (a
  replacement starts in its place); the attempts still running beside it finish (each
  within its own timeout) and then the actor is killed, hung attempt and all. No attempt
  is thrown away or charged for its neighbour. An actor that dies on its own fails the
  attempts it was running. Actors ask Ray for a CPU to be placed but hold none while they
  run (Ray's default for actors). On a runtime the batch did not start, a batch that ends
  cleanly leaves its idle pool to the next ``run_batch`` of this driver with the same
  ``make_agent``, concurrency and options (a worker process takes seconds to start, the
  batch itself may take less); any other batch, ``ray.shutdown()`` or the driver's exit
  ends it. A private runtime ends with its batch, pool and all.
- one Ray task per attempt (any other ``ray_options``: ``num_cpus``, ``num_gpus``,
  ``resources``, ``scheduling_strategy``, ...): each attempt gets its own resources, and a
  timed-out task is cancelled with ``force=True``, which kills its worker process. Its
  timeout counts from submission (Ray does not tell the driver when a task leaves the
  queue), so keep ``max_concurrency`` within the cluster's free slots.

Either way ``make_agent`` is put in the object store once and every attempt builds its agent
from it on whichever node runs it, and results come back as they finish (``ray.wait``).
"""

from __future__ import annotations

import hashlib
import math
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .._optional import require
from ._backends import check_picklable
from ._execute import Outcome, format_error, run_task
from ._records import BatchTask

__all__ = ["THREADS_PER_ACTOR", "RayBackend", "local_ray_init_options", "pool_shape"]

THREADS_PER_ACTOR = 8
"""Attempts one pool actor runs at once (threads of one worker process)."""

_MAX_FAILED_STARTS = 3
"""Actors that may die before answering (attempts moved to a replacement) before the
attempts they were given fail instead (e.g. a ``runtime_env`` that cannot be set up)."""

_ACTOR_POOL_OPTIONS = frozenset({"runtime_env"})
"""``ray_options`` keys the actor pool honours; any other key asks for a Ray task per attempt."""


def local_ray_init_options(num_cpus: int) -> dict[str, Any]:
    """``ray.init`` options for a private runtime that stays on loopback.

    ``num_cpus`` is also how many worker processes Ray starts ahead of time, so it is the
    number of actors for the actor pool and ``max_concurrency`` for one task per attempt.
    """
    return {
        "address": "local",  # a new runtime, never one found in /tmp/ray or RAY_ADDRESS
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": False,
        "configure_logging": False,
    }


def pool_shape(max_concurrency: int, free_cpus: float | None = None) -> tuple[int, int]:
    """``(actors, threads per actor)`` for ``max_concurrency`` attempts at once.

    Up to ``THREADS_PER_ACTOR`` attempts share one actor, and with ``free_cpus`` known (an
    existing cluster) there are no more actors than whole free CPUs, so every actor starts.
    """
    actors = math.ceil(max_concurrency / THREADS_PER_ACTOR)
    if free_cpus is not None:
        actors = min(actors, int(free_cpus))
    actors = max(1, actors)
    return actors, math.ceil(max_concurrency / actors)


def _ray_run_task(make_agent: Callable[..., Any], task: BatchTask) -> Outcome:
    """The body of each Ray task (module-level, so workers import it rather than unpickle it)."""
    return run_task(make_agent, task, portable=True)


class _AgentActor:
    """One pool actor: runs attempts on its threads, each on a fresh agent."""

    def __init__(self, make_agent_ref: list[Any]) -> None:
        # in a list, so Ray hands over the reference and a make_agent that cannot be loaded
        # here (its module missing on this node, ...) fails each attempt, not the actor
        import ray

        self._load_error: str | None = None
        try:
            self._make_agent = ray.get(make_agent_ref[0])
        except Exception as exc:
            self._load_error = f"could not load make_agent on the Ray worker: {format_error(exc)}"

    def ready(self) -> bool:
        """Answers once the actor's process is up (the attempts' clocks start then)."""
        return True

    def run(self, task: BatchTask) -> Outcome:
        if self._load_error is not None:
            return Outcome(error=self._load_error)
        return run_task(self._make_agent, task, portable=True)


@dataclass(eq=False)
class _Actor:
    handle: Any
    ready: Any  # the ref of ``handle.ready.remote()`` until the actor answers, then None
    keys: set[int] = field(default_factory=set)


class _ActorPool:
    """Attempts as calls on a pool of threaded actors (see the module docstring)."""

    reports_start = True

    def __init__(
        self, ray: Any, make_agent_ref: Any, actors: int, threads: int, options: dict[str, Any]
    ) -> None:
        self._ray = ray
        self._make_agent_ref = make_agent_ref
        self._actor_class = ray.remote(_AgentActor).options(
            max_concurrency=threads,
            max_restarts=0,
            scheduling_strategy="SPREAD",
            **options,
        )
        self._actors = [self._new_actor() for _ in range(actors)]
        self._tasks: dict[int, BatchTask] = {}
        self._where: dict[int, _Actor] = {}
        self._refs: dict[int, Any] = {}
        self._keys: dict[Any, int] = {}
        self._starting: dict[Any, _Actor] = {a.ready: a for a in self._actors}
        self._begun: list[tuple[int, Outcome | None]] = []
        self._failed_starts = 0
        self._retiring: list[_Actor] = []  # ran a timed-out attempt: killed once the rest are done

    @property
    def busy(self) -> bool:
        return bool(self._keys or self._retiring)

    def revive(self) -> None:
        """Ask every actor of a reused pool whether it is still up before giving it work."""
        for actor in self._actors:
            actor.ready = actor.handle.ready.remote()
            self._starting[actor.ready] = actor

    def _new_actor(self) -> _Actor:
        handle = self._actor_class.remote([self._make_agent_ref])
        return _Actor(handle, handle.ready.remote())

    def start(self, key: int, task: BatchTask) -> None:
        actor = min(self._actors, key=lambda a: len(a.keys))
        self._tasks[key] = task
        self._submit(key, actor)

    def _submit(self, key: int, actor: _Actor) -> None:
        ref = actor.handle.run.remote(self._tasks[key])
        actor.keys.add(key)
        self._where[key] = actor
        self._refs[key] = ref
        self._keys[ref] = key
        if actor.ready is None:
            self._begun.append((key, None))

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        if not self._keys and not self._begun:
            return []
        refs = [*self._keys, *self._starting]
        if self._begun:
            timeout = 0
        ready: list[Any] = []
        if refs:
            ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=True)
        if ready:
            more, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=True)
            ready = list({*ready, *more})
        for ref in ready:
            if ref in self._starting:
                self._actor_started(self._starting.pop(ref), ref)
        done, self._begun = self._begun, []
        for ref in ready:
            key = self._keys.pop(ref, None)
            if key is None:
                continue  # an actor's readiness, or an attempt dropped since
            actor = self._forget(key)
            try:
                outcome = self._ray.get(ref)
            except Exception as exc:  # the actor died, its node went away, ...
                outcome = Outcome(error=f"RayError: {format_error(exc)}")
                if actor is not None and actor in self._actors:
                    self._replace(actor)
            if actor is not None:
                self._retire_if_idle(actor)
            done.append((key, outcome))
        return done

    def _actor_started(self, actor: _Actor, ref: Any) -> None:
        actor.ready = None
        try:
            self._ray.get(ref)
        except Exception:  # died starting (or while idle in a reused pool)
            self._failed_starts += 1
            if self._failed_starts <= _MAX_FAILED_STARTS and actor in self._actors:
                self._move_attempts(actor, self._replace(actor))  # none of them began
            return  # past that, its attempts' results carry the error
        self._begun.extend((key, None) for key in actor.keys)

    def _move_attempts(self, actor: _Actor, replacement: _Actor) -> list[int]:
        moved = sorted(actor.keys)
        for key in moved:
            self._keys.pop(self._refs[key], None)
            actor.keys.discard(key)
            self._submit(key, replacement)
        return moved

    def _forget(self, key: int) -> _Actor | None:
        self._tasks.pop(key, None)
        self._refs.pop(key, None)
        actor = self._where.pop(key, None)
        if actor is not None:
            actor.keys.discard(key)
        return actor

    def _replace(self, actor: _Actor) -> _Actor:
        """A new actor in ``actor``'s place (``actor`` is dead or about to be killed)."""
        self._actors.remove(actor)
        self._starting.pop(actor.ready, None)
        replacement = self._new_actor()
        self._actors.append(replacement)
        self._starting[replacement.ready] = replacement
        return replacement

    def cancel(self, key: int) -> None:
        actor = self._where.get(key)
        ref = self._refs.get(key)
        self._keys.pop(ref, None)
        self._forget(key)
        if actor is None:
            return
        if actor.ready is not None:  # still starting: the attempt has not begun, drop it
            self._try(self._ray.cancel, ref)
            return
        # a running thread cannot be stopped, only its whole actor: no new work goes there,
        # and it is killed as soon as the attempts still running beside this one are over
        if actor in self._actors:
            self._replace(actor)
            self._retiring.append(actor)
        self._retire_if_idle(actor)

    def _retire_if_idle(self, actor: _Actor) -> None:
        if actor in self._retiring and not actor.keys:
            self._retiring.remove(actor)
            self._try(self._ray.kill, actor.handle, no_restart=True)

    @staticmethod
    def _try(call: Callable[..., Any], *args: Any, **kwargs: Any) -> None:
        try:
            call(*args, **kwargs)
        except Exception:
            pass  # already finished or gone: nothing left to stop

    def close(self) -> None:
        for actor in [*self._actors, *self._retiring]:
            self._try(self._ray.kill, actor.handle, no_restart=True)
        self._actors.clear()
        self._retiring.clear()
        self._keys.clear()
        self._refs.clear()


class _TaskMode:
    """One Ray task per attempt, with the caller's ``ray_options``."""

    reports_start = False

    def __init__(self, ray: Any, make_agent_ref: Any, options: dict[str, Any]) -> None:
        self._ray = ray
        self._make_agent_ref = make_agent_ref
        self._remote = ray.remote(_ray_run_task).options(max_retries=0, **options)
        self._keys: dict[Any, int] = {}
        self._refs: dict[int, Any] = {}

    def start(self, key: int, task: BatchTask) -> None:
        ref = self._remote.remote(self._make_agent_ref, task)
        self._keys[ref] = key
        self._refs[key] = ref

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        if not self._keys:
            return []
        refs = list(self._keys)
        ready, _ = self._ray.wait(refs, num_returns=1, timeout=timeout, fetch_local=True)
        if not ready:
            return []
        more, _ = self._ray.wait(refs, num_returns=len(refs), timeout=0, fetch_local=True)
        done: list[tuple[int, Outcome | None]] = []
        for ref in {*ready, *more}:
            key = self._keys.pop(ref)
            self._refs.pop(key, None)
            try:
                outcome = self._ray.get(ref)
            except Exception as exc:  # the worker died, the node went away, ...
                outcome = Outcome(error=f"RayError: {format_error(exc)}")
            done.append((key, outcome))
        return done

    def cancel(self, key: int) -> None:
        ref = self._refs.pop(key, None)
        if ref is None:
            return
        self._keys.pop(ref, None)
        try:
            self._ray.cancel(ref, force=True)
        except Exception:
            pass  # already finished or gone: nothing left to stop

    def close(self) -> None:
        for key in list(self._refs):
            self.cancel(key)


_idle_lock = threading.Lock()
_idle_pool: tuple[tuple[Any, ...], _ActorPool] | None = None
"""The last clean batch's pool on a caller's runtime, with what it was built for."""


def _take_idle_pool(signature: tuple[Any, ...]) -> _ActorPool | None:
    """The idle pool if it was built for ``signature``; any other idle pool is ended."""
    global _idle_pool
    with _idle_lock:
        idle, _idle_pool = _idle_pool, None
    if idle is None:
        return None
    if idle[0] == signature:
        idle[1].revive()
        return idle[1]
    if idle[0][0] == signature[0]:  # same runtime: its actors are still up, end them
        idle[1].close()
    return None


def _keep_idle_pool(signature: tuple[Any, ...], pool: _ActorPool) -> None:
    global _idle_pool
    with _idle_lock:
        previous, _idle_pool = _idle_pool, (signature, pool)
    if previous is not None and previous[0][0] == signature[0]:
        previous[1].close()


class RayBackend:
    """Attempts on Ray (an actor pool or a task each), collected with ``ray.wait`` as they finish."""

    def __init__(
        self,
        make_agent: Callable[..., Any],
        *,
        max_concurrency: int,
        ray_address: str | None = None,
        ray_options: dict[str, Any] | None = None,
    ) -> None:
        ray = require("ray", "ray", "run_batch(backend='ray')")
        self._ray = ray
        blob = check_picklable(make_agent, "ray", ray.cloudpickle.dumps)
        options = dict(ray_options or {})
        use_pool = set(options) <= _ACTOR_POOL_OPTIONS
        self._owns_runtime = False
        free_cpus: float | None = None
        if ray.is_initialized():
            free_cpus = ray.available_resources().get("CPU", 0.0)
        elif ray_address is not None:
            ray.init(address=ray_address, log_to_driver=False, configure_logging=False)
            free_cpus = ray.available_resources().get("CPU", 0.0)
        else:
            num_cpus = pool_shape(max_concurrency)[0] if use_pool else max_concurrency
            try:
                ray.init(**local_ray_init_options(num_cpus))
            except Exception as exc:
                raise RuntimeError(
                    f"could not start a local Ray runtime ({format_error(exc)}). On a busy machine "
                    "Ray's start-up can time out: start one with `ray start --head` and pass "
                    "ray_address='HOST:PORT', or retry."
                ) from exc
            self._owns_runtime = True
        self._mode: _ActorPool | _TaskMode
        self._signature: tuple[Any, ...] = ()
        if use_pool:
            actors, threads = pool_shape(max_concurrency, free_cpus)
            runtime = ray.get_runtime_context().get_job_id()
            self._signature = (runtime, hashlib.sha256(blob).hexdigest(), repr(options), actors, threads)
            pool = None if self._owns_runtime else _take_idle_pool(self._signature)
            self._mode = pool or _ActorPool(ray, ray.put(make_agent), actors, threads, options)
        else:
            self._mode = _TaskMode(ray, ray.put(make_agent), options)
        self.reports_start = self._mode.reports_start

    def start(self, key: int, task: BatchTask) -> None:
        self._mode.start(key, task)

    def wait(self, timeout: float | None) -> list[tuple[int, Outcome | None]]:
        return self._mode.wait(timeout)

    def cancel(self, key: int) -> None:
        self._mode.cancel(key)

    def close(self) -> None:
        try:
            mode = self._mode
            if isinstance(mode, _ActorPool) and not mode.busy and not self._owns_runtime:
                _keep_idle_pool(self._signature, mode)
            else:
                mode.close()
        finally:
            if self._owns_runtime:
                self._ray.shutdown()
