"""Starting child processes: the command line, a clean environment, a warm spare.

Why ``subprocess`` and not ``multiprocessing``: multiprocessing pickles on its channels
and a forkserver accepts pickles from anyone who reaches its socket; a plain child
process with three pipes (requests, replies, and a lifeline whose closing means "exit")
keeps the protocol ours. Forking the parent directly is unsafe when it has threads.

Start-up cost is mostly importing the sandbox (tens of ms with byte-code caches). The
child imports only the sandbox's subpackage (a stub stands in for the top-level package,
so the agents, models and rich are never imported there), and one warm *spare* child is
kept per parent process: a new executor, or a restart after a kill, takes the spare and
only pays for the ``init`` handshake; a new spare then starts in the background.

The child gets a minimal environment, never the parent's: API keys and other secrets in
``os.environ`` stay in the parent.
"""

from __future__ import annotations

import atexit
import json
import os
import signal
import subprocess
import sys
import threading
import time
from typing import Any

from ._protocol import ChannelClosed, ChannelViolation, ParentChannel

__all__ = ["Child", "child_environment", "start_child", "take_child"]

_KEPT_ENV = ("HOME", "LANG", "LC_ALL", "LC_CTYPE", "TZ", "TMPDIR", "PATH", "SYSTEMROOT")
_PIPE_BYTES = 1 << 20
_THREAD_ENV = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NUMEXPR_NUM_THREADS")


def child_environment() -> dict[str, str]:
    """Locale, paths and single-threaded maths libraries; no secrets."""
    env = {name: os.environ[name] for name in _KEPT_ENV if name in os.environ}
    env.update(dict.fromkeys(_THREAD_ENV, "1"))
    env.setdefault("LANG", "C.UTF-8")
    return env


def _bootstrap(read_fd: int, write_fd: int, isolate_network: bool) -> str:
    import smolagents

    settings = {
        "path": [entry or os.getcwd() for entry in sys.path],
        "package": list(smolagents.__path__),
        "no_pyc": sys.dont_write_bytecode,
        "pyc_prefix": sys.pycache_prefix,
    }
    return (
        "import json, sys, types\n"
        f"s = json.loads({json.dumps(settings)!r})\n"
        "sys.path[:] = s['path']\n"
        "sys.dont_write_bytecode = s['no_pyc']\n"
        "sys.pycache_prefix = s['pyc_prefix']\n"
        "package = types.ModuleType('smolagents')\n"
        "package.__path__ = s['package']\n"
        "sys.modules['smolagents'] = package\n"
        "from smolagents.process_executor._child import main\n"
        f"main({read_fd}, {write_fd}, {isolate_network!r})\n"
    )


_SIGNAL_NOTES: dict[int, str] = {  # Signals keys: an IntEnum, so a plain int finds them
    signal.SIGSEGV: "a segmentation fault, e.g. hashing, comparing or printing a very deeply nested structure",
    signal.SIGBUS: "a bus error",
    signal.SIGABRT: "an abort in C code",
    signal.SIGFPE: "a floating-point exception in C code",
    signal.SIGILL: "an illegal instruction in C code",
}


class Child:
    """One child process and the parent's ends of its pipes."""

    def __init__(
        self,
        popen: subprocess.Popen[bytes],
        channel: ParentChannel,
        lifeline_fd: int,
        child_lifeline_fd: int,
        isolate_network: bool = True,
    ) -> None:
        self.popen = popen
        #: whether the child tries to enter a network namespace as it starts
        self.isolate_network = isolate_network
        self.channel = channel
        self.lifeline_fd: int | None = lifeline_fd
        #: the number under which the child sees its end of the lifeline
        self.child_lifeline_fd = child_lifeline_fd
        self.pid = popen.pid
        self.started = False
        self.killed_by_parent = False
        self.report: dict[str, Any] = {}

    def alive(self) -> bool:
        return self.popen.poll() is None

    def handshake(self, config: dict[str, Any], deadline: float) -> dict[str, Any]:
        """Wait for ``ready``, send the configuration, wait for ``started``."""
        ready = self.channel.recv(deadline)
        if ready.get("op") != "ready":
            raise ChannelViolation(f"the child said {ready.get('op')!r} instead of 'ready'")
        self.channel.send({"op": "init", "config": config}, deadline)
        reply = self.channel.recv(deadline)
        if reply.get("op") == "failed":
            raise ChannelClosed(f"the child could not start its sandbox: {str(reply.get('message'))[:2000]}")
        if reply.get("op") != "started" or type(reply.get("report")) is not dict:
            raise ChannelViolation(f"the child said {reply.get('op')!r} instead of 'started'")
        self.started = True
        self.report = reply["report"]
        return self.report

    def kill(self) -> None:
        """Stop the child now (SIGKILL: it gets no chance to run anything) and reap it."""
        if self.alive():
            self.killed_by_parent = True
            try:
                self.popen.kill()
            except ProcessLookupError:
                pass
        self._reap(None)

    def close(self, grace: float = 0.5) -> None:
        """Ask the child to exit by closing its lifeline; kill it if it does not."""
        self._close_fds()
        self._reap(grace)

    def _reap(self, grace: float | None) -> None:
        try:
            self.popen.wait(grace)
        except subprocess.TimeoutExpired:
            self.killed_by_parent = True
            self.popen.kill()
            self.popen.wait()
        self._close_fds()

    def _close_fds(self) -> None:
        for fd in (self.lifeline_fd, self.channel.read_fd, self.channel.write_fd):
            if fd is not None and fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass
        self.lifeline_fd = None
        self.channel.read_fd = self.channel.write_fd = -1

    def exit_description(self) -> str:
        """How the child ended, in words (after ``kill``/``wait``)."""
        code = self.popen.poll()
        if code is None:
            return "is still running"
        if code >= 0:
            return f"exited with status {code}"
        number = -code
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = f"signal {number}"
        note = _SIGNAL_NOTES.get(number)
        return f"was ended by {name}" + (f" ({note})" if note else "")


def _widen(fd: int) -> None:
    """A 1 MiB pipe buffer (Linux): a large message crosses in one write, not in 64 KiB
    turns of both processes."""
    try:
        import fcntl

        fcntl.fcntl(fd, getattr(fcntl, "F_SETPIPE_SZ", 1031), _PIPE_BYTES)
    except (OSError, ImportError):
        pass


def start_child(max_message_bytes: int, isolate_network: bool = True) -> Child:
    """Start a child process; it imports the sandbox and confines itself while the caller
    goes on."""
    to_child_r, to_child_w = os.pipe()
    from_child_r, from_child_w = os.pipe()
    _widen(to_child_w)
    _widen(from_child_w)
    lifeline_r, lifeline_w = os.pipe()
    try:
        popen = subprocess.Popen(
            [sys.executable, "-E", "-s", "-c", _bootstrap(to_child_r, from_child_w, isolate_network)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(to_child_r, from_child_w, lifeline_r),
            env=child_environment(),
            start_new_session=True,  # a Ctrl-C in the terminal goes to the parent only
        )
    except BaseException:
        for fd in (to_child_w, from_child_r, lifeline_w):
            os.close(fd)
        raise
    finally:
        for fd in (to_child_r, from_child_w, lifeline_r):
            os.close(fd)
    channel = ParentChannel(from_child_r, to_child_w, max_message_bytes)
    return Child(popen, channel, lifeline_w, lifeline_r, isolate_network)


# ---------------------------------------------------------------------------- warm spare
_spare_lock = threading.Lock()
_spare: Child | None = None
_spare_started_at = 0.0
#: a spare older than this is replaced (it may have imported code that changed since)
_SPARE_MAX_AGE = 600.0


def _start_spare() -> None:
    global _spare, _spare_started_at
    try:
        child = start_child(1 << 20)
    except OSError:
        return
    with _spare_lock:
        if _spare is None:
            _spare, _spare_started_at = child, time.monotonic()
            return
    child.kill()


def take_child(max_message_bytes: int, keep_spare: bool = True, isolate_network: bool = True) -> Child:
    """A child for a new executor or a restart: the warm spare if there is a usable one,
    else a new one; then another spare starts in the background (a spare always enters a
    network namespace, so ``isolate_network=False`` always starts a new child)."""
    global _spare
    child = None
    if isolate_network:
        with _spare_lock:
            child, _spare = _spare, None
            fresh = time.monotonic() - _spare_started_at < _SPARE_MAX_AGE
        if child is not None and not (child.alive() and fresh):
            child.kill()
            child = None
    if child is None:
        child = start_child(max_message_bytes, isolate_network)
    child.channel.max_message_bytes = max_message_bytes
    if keep_spare:
        threading.Thread(target=_start_spare, name="smolagents-spare-child", daemon=True).start()
    return child


@atexit.register
def _drop_spare() -> None:
    global _spare
    with _spare_lock:
        child, _spare = _spare, None
    if child is not None:
        child.kill()
