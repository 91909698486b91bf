"""run_batch on a real local Ray runtime: 50 scripted tasks, a hang, a killed driver, resume.

Ray binds to the machine's network address whenever it has one (it even rewrites an
explicit 127.0.0.1 to it), and tests may only use loopback, so these tests run only in a
network namespace whose one interface is ``lo``; ``test_batch_ray_netns.py`` launches this
module in one (``unshare -n``). The runtime is started once for the module with
``ray start --head --block`` (2 CPUs, no dashboard, every port given explicitly: with
ports left to Ray, a raylet on a loaded machine can give up waiting for its agent's port
file) and stopped after.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import ray
from batch_helpers import (
    N_TASKS,
    check_results,
    make_agent,
    make_plain_agent,
    make_tasks,
    ran_ids,
    read_records,
)

from smolagents.batch import run_batch

pytestmark = pytest.mark.timeout(900)

HERE = Path(__file__).parent
ALL_IDS = [f"t{n:02d}" for n in range(N_TASKS)]
GCS_PORT = 6379


def loopback_only() -> bool:
    return {name for _, name in socket.if_nameindex()} == {"lo"}


def ray_env() -> dict[str, str]:
    """The environment of the Ray processes and of the drivers: workers import batch_helpers;
    token auth is off (a token would be written to ~/.ray; nothing here leaves loopback)."""
    path = os.pathsep.join(p for p in (str(HERE), os.environ.get("PYTHONPATH", "")) if p)
    return {**os.environ, "PYTHONPATH": path, "RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"}


def start_head(temp_dir: Path) -> subprocess.Popen[bytes]:
    ports = {"dashboard-agent-grpc-port": 6380, "dashboard-agent-listen-port": 6381}
    ports |= {"metrics-export-port": 6382, "runtime-env-agent-port": 6383}
    command = [str(Path(sys.executable).parent / "ray"), "start", "--head", "--block"]
    command += [
        "--node-ip-address=127.0.0.1",
        f"--port={GCS_PORT}",
        "--num-cpus=2",
        "--include-dashboard=false",
    ]
    command += [f"--{name}={port}" for name, port in ports.items()]
    command += ["--min-worker-port=6400", "--max-worker-port=6499", "--disable-usage-stats"]
    command += [f"--temp-dir={temp_dir}"]  # its files (sessions, ray_current_cluster) stay ours
    return subprocess.Popen(command, env=ray_env(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


@pytest.fixture(scope="module")
def ray_address(tmp_path_factory):
    if not loopback_only():
        pytest.skip("Ray tests need a loopback-only network namespace (test_batch_ray_netns.py starts one)")
    os.environ.update({"RAY_AUTH_MODE": "disabled", "RAY_USAGE_STATS_ENABLED": "0"})
    address = f"127.0.0.1:{GCS_PORT}"
    started = time.monotonic()
    for attempt in range(3):  # noqa: B007 (reported below) — on a loaded machine the first start can time out
        head = start_head(tmp_path_factory.mktemp("ray"))
        deadline = time.monotonic() + 180
        while time.monotonic() < deadline and head.poll() is None:
            try:
                ray.init(address=address, log_to_driver=False, configure_logging=False)
                break
            except ConnectionError:
                time.sleep(1)
        if ray.is_initialized():
            break
        head.send_signal(signal.SIGTERM)
        head.wait(timeout=60)
    else:
        pytest.fail(f"Ray did not start 3 times: {head.stderr.read().decode()[-3000:]}")
    print(f"\nRay runtime up after {time.monotonic() - started:.1f} s (attempt {attempt + 1})")
    yield address
    ray.shutdown()
    head.send_signal(signal.SIGTERM)  # `ray start --block` stops the processes it started
    head.wait(timeout=120)


def test_fifty_tasks_on_ray(ray_address, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    results_path = tmp_path / "results.jsonl"
    results = run_batch(
        make_tasks(markers),
        make_agent,
        backend="ray",
        max_concurrency=2,
        results_path=results_path,
        task_timeout=8,
        retries=1,
        quiet=True,
    )
    check_results(results, results_path, retries=1)
    assert ray.is_initialized()  # a runtime the batch did not start is left running
    attempts = ran_ids(markers)
    assert set(attempts) == set(ALL_IDS)


DRIVER = """
import sys
from batch_helpers import make_agent, make_tasks
from smolagents.batch import run_batch
run_batch(make_tasks(sys.argv[1], step_delay=0.1), make_agent, backend="ray", ray_address=sys.argv[3],
          max_concurrency=2, results_path=sys.argv[2], task_timeout=30, quiet=True)
"""


def test_rerun_after_the_ray_driver_is_killed_runs_only_the_missing_ids(ray_address, tmp_path):
    markers, results_path = tmp_path / "markers-1", tmp_path / "results.jsonl"
    markers.mkdir()
    child = subprocess.Popen(
        [sys.executable, "-c", DRIVER, str(markers), str(results_path), ray_address],
        env=ray_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 300
        while not results_path.exists() or len(results_path.read_text().splitlines()) < 8:
            assert child.poll() is None, child.stderr.read().decode()[-3000:]
            assert time.monotonic() < deadline, "the driver recorded no results"
            time.sleep(0.1)
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
    done = set(read_records(results_path))
    assert 8 <= len(done) < N_TASKS
    markers = tmp_path / "markers-2"
    markers.mkdir()
    results = run_batch(
        make_tasks(markers),
        make_agent,
        backend="ray",
        max_concurrency=2,
        results_path=results_path,
        task_timeout=8,
        quiet=True,
    )
    assert set(ran_ids(markers)) == set(ALL_IDS) - done
    assert {r.id for r in results if r.resumed} == done
    check_results(results, results_path, retries=0)


def test_make_agent_needs_not_be_module_level_on_ray(ray_address):
    """Ray pickles functions by value (cloudpickle), so a lambda travels; an agent does not."""
    [result] = run_batch(["x"], lambda: make_plain_agent(), backend="ray", quiet=True)
    assert result.output == 42
    import threading

    lock = threading.Lock()
    with pytest.raises(TypeError, match="must be picklable"):
        run_batch(["x"], lambda: lock, backend="ray", quiet=True)


def _task(task_id: str, kind: str, markers: Path, step_delay: float = 0.0) -> dict:
    task = {"id": task_id, "task": "Compute 3 * 2 + 1.", "kind": kind, "n": 3, "marker_dir": str(markers)}
    return task | ({"step_delay": step_delay} if step_delay else {})


def test_a_hung_attempt_is_killed_with_its_actor_once_its_neighbour_is_done(ray_address, tmp_path):
    """One actor, two threads: "hang" runs beside "first" (0-3 s), then "second" (3-6 s). At
    5 s "hang" times out; "second" finishes undisturbed on the same actor (one attempt, no
    retry charged), and then that actor is killed, hung thread and all."""
    markers = tmp_path / "markers"
    markers.mkdir()
    tasks = [
        _task("hang", "hang", markers),
        _task("first", "ok", markers, 1.5),
        _task("second", "ok", markers, 1.5),
    ]
    hang, first, second = run_batch(
        tasks, make_agent, backend="ray", max_concurrency=2, task_timeout=5, quiet=True
    )
    assert hang.timed_out and hang.attempts == 1
    assert first.ok and second.ok and first.output == second.output == 7
    assert first.attempts == second.attempts == 1
    assert ran_ids(markers) == ["first", "hang", "second"]
    [pid] = {int(path.name.split(".")[1]) for path in markers.iterdir()}  # one actor ran all three
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            break
        time.sleep(0.2)
    else:
        pytest.fail(f"the actor process {pid} running the hung attempt was not killed")


def test_a_later_batch_reuses_the_idle_actor_pool(ray_address, tmp_path):
    pids = []
    for run in range(2):
        markers = tmp_path / f"markers-{run}"
        markers.mkdir()
        tasks = [_task(f"q{n}", "ok", markers) for n in range(6)]
        results = run_batch(tasks, make_agent, backend="ray", max_concurrency=2, quiet=True)
        assert all(r.ok for r in results)
        pids.append({path.name.split(".")[1] for path in markers.iterdir()})
    assert pids[0] == pids[1] and len(pids[0]) == 1  # one actor of two threads, kept


def test_ray_options_with_resources_run_one_ray_task_per_attempt(ray_address, tmp_path):
    """``num_cpus`` in ray_options: each attempt is its own Ray task, a hung one is force-cancelled.
    A first batch starts the task workers: a task's clock runs from its submission, and
    starting a worker process can take seconds here."""
    markers = tmp_path / "markers"
    markers.mkdir()
    options = {"num_cpus": 1}
    warm_up = [_task(f"w{n}", "ok", markers) for n in range(2)]
    assert all(r.ok for r in run_batch(warm_up, make_agent, backend="ray", ray_options=options, quiet=True))
    tasks = [_task("hang", "hang", markers), *(_task(f"q{n}", "ok", markers) for n in range(3))]
    results = run_batch(
        tasks, make_agent, backend="ray", max_concurrency=2, task_timeout=5, ray_options=options, quiet=True
    )
    assert results[0].timed_out, results[0].error
    assert all(r.ok and r.output == 7 for r in results[1:]), [r.error for r in results]
    assert sorted(ran_ids(markers)) == ["hang", "q0", "q1", "q2", "w0", "w1"]


def test_a_make_agent_the_workers_cannot_load_fails_each_task_with_the_reason(
    ray_address, tmp_path, monkeypatch
):
    """A module only the driver can import: every attempt says so, the pool's actors stay up."""
    module = "driver_only_agents"
    (tmp_path / f"{module}.py").write_text(
        "from batch_helpers import make_plain_agent\n\ndef make_agent():\n    return make_plain_agent()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    make = __import__(module).make_agent
    results = run_batch(["x", "y"], make, backend="ray", max_concurrency=2, quiet=True)
    for result in results:
        assert "could not load make_agent on the Ray worker" in result.error and module in result.error
