"""Launch the Ray batch tests in a network namespace whose only interface is loopback.

Ray listens on the machine's address when it has one; tests may only use loopback. So
``test_batch_ray.py`` runs here inside ``unshare -n`` (plus a PID namespace, so nothing Ray
started can outlive the run), with ``lo`` brought up. Where the suite already runs in such
a namespace, the module runs directly and this launcher steps aside.
"""

from __future__ import annotations

import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

HERE = Path(__file__).parent


@pytest.mark.timeout(1200)
def test_ray_batch_suite_in_a_loopback_only_namespace():
    import ray  # noqa: F401  (in the test extra: fail if missing, never skip)

    if {name for _, name in socket.if_nameindex()} == {"lo"}:
        pytest.skip("already loopback-only: test_batch_ray.py runs directly")
    if shutil.which("unshare") is None or shutil.which("ip") is None:
        pytest.skip("needs unshare and ip (util-linux, iproute2)")
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n is not permitted here (needs root or user namespaces)")
    script = 'ip link set lo up && exec "$0" -m pytest -q -s -p no:cacheprovider -rs --durations=5 "$1"'
    proc = subprocess.run(
        [
            "unshare",
            "-n",
            "-p",
            "-f",
            "--mount-proc",
            "sh",
            "-c",
            script,
            sys.executable,
            str(HERE / "test_batch_ray.py"),
        ],
        capture_output=True,
        text=True,
        timeout=1150,
        cwd=HERE.parent.parent,
    )
    report = proc.stdout[-6000:] + proc.stderr[-3000:]
    print(report)
    assert proc.returncode == 0, report
    assert "passed" in proc.stdout and "skipped" not in proc.stdout, report
