"""The Ray backend: each attempt is a Ray task, so a batch spreads over a cluster unchanged.

``ray`` is imported only here, when ``backend="ray"`` is chosen. With no ``ray_address`` and
no Ray already initialised in the process, a private local runtime is started: bound to
127.0.0.1 (nothing is exposed on the machine's network), no dashboard, as many logical CPUs
as the batch's concurrency, and it is shut down when the batch ends. With ``ray_address``
(or after the caller's own ``ray.init()``) the existing cluster is used and left running.

``make_agent`` is put in the object store once and every task builds its agent from it on
whichever node runs it. A timed-out task is cancelled with ``force=True``, which kills the
worker process running it, the same guarantee as the processes backend.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .._optional import require
from ._backends import check_picklable
from ._execute import Outcome, format_error, run_task
from ._records import BatchTask

__all__ = ["RayBackend", "local_ray_init_options"]


def local_ray_init_options(num_cpus: int) -> dict[str, Any]:
    """``ray.init`` options for a private runtime that stays on loopback."""
    return {
        "address": "local",  # a new runtime, never one found in /tmp/ray or RAY_ADDRESS
        "num_cpus": num_cpus,
        "include_dashboard": False,
        "_node_ip_address": "127.0.0.1",
        "log_to_driver": False,
        "configure_logging": False,
    }


def _ray_run_task(make_agent: Callable[..., Any], task: BatchTask) -> Outcome:
    """The body of each Ray task (module-level, so workers import it rather than unpickle it)."""
    return run_task(make_agent, task, portable=True)


class RayBackend:
    """Attempts as Ray tasks, collected with ``ray.wait`` as they finish.

    The timeout of an attempt counts from its submission: Ray does not tell the driver when
    a task leaves the queue, so keep ``max_concurrency`` within the cluster's free slots.
    """

    reports_start = False

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
        check_picklable(make_agent, "ray", ray.cloudpickle.dumps)
        self._owns_runtime = False
        if not ray.is_initialized():
            if ray_address is not None:
                ray.init(address=ray_address, log_to_driver=False, configure_logging=False)
            else:
                try:
                    ray.init(**local_ray_init_options(max_concurrency))
                except Exception as exc:
                    raise RuntimeError(
                        f"could not start a local Ray runtime ({format_error(exc)}). On a busy machine "
                        "Ray's start-up can time out: start one with `ray start --head` and pass "
                        "ray_address='HOST:PORT', or retry."
                    ) from exc
                self._owns_runtime = True
        self._remote = ray.remote(_ray_run_task).options(max_retries=0, **(ray_options or {}))
        self._make_agent_ref = ray.put(make_agent)
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
        if self._owns_runtime:
            self._ray.shutdown()
