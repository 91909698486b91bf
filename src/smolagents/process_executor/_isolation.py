"""OS-level confinement the child applies to itself before it runs any untrusted code.

Why in the child and not in a ``preexec_fn``: ``preexec_fn`` is unsafe when the parent
has threads, and a user namespace can only be entered by a single-threaded process, which
the child is at that point. What is applied, in order:

1. ``unshare(CLONE_NEWUSER | CLONE_NEWNET)``: a network namespace of its own whose only
   interface is loopback (brought up here), so code sees no network, not even the
   host's loopback services. Where the kernel refuses (no unprivileged user namespaces,
   seccomp in a container), the reason is recorded and the child runs without it.
2. ``prctl(PR_SET_NO_NEW_PRIVS)``: no set-uid or file-capability gains from here on.
3. ``RLIMIT_CORE = 0``: a crash writes no core file.
4. Later, per call: ``RLIMIT_AS`` (address-space cap) and ``RLIMIT_CPU`` (CPU seconds).
"""

from __future__ import annotations

import ctypes
import errno
import os
import resource
import struct
import sys
from typing import Any

__all__ = ["enter_network_namespace", "limit_address_space", "limit_cpu_seconds", "lock_down", "vm_size"]

_CLONE_NEWUSER = 0x10000000
_CLONE_NEWNET = 0x40000000
_PR_SET_NO_NEW_PRIVS = 38
_SIOCSIFFLAGS = 0x8914
_IFF_UP, _IFF_LOOPBACK, _IFF_RUNNING = 0x1, 0x8, 0x40


def _libc() -> Any:
    return ctypes.CDLL(None, use_errno=True)


def _write(path: str, text: str) -> None:
    with open(path, "w") as handle:
        handle.write(text)


def _loopback_up() -> None:
    import fcntl
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        request = struct.pack("16sH22x", b"lo", _IFF_UP | _IFF_LOOPBACK | _IFF_RUNNING)
        fcntl.ioctl(sock.fileno(), _SIOCSIFFLAGS, request)


def enter_network_namespace() -> tuple[bool, str]:
    """Move into fresh user + network namespaces with loopback only; say what happened."""
    libc = _libc()
    if not hasattr(libc, "unshare"):
        return False, f"unshare() does not exist on {sys.platform}; the child runs with the host's network"
    uid, gid = os.getuid(), os.getgid()
    if libc.unshare(_CLONE_NEWUSER | _CLONE_NEWNET) == 0:
        try:
            _write("/proc/self/setgroups", "deny")
            _write("/proc/self/uid_map", f"{uid} {uid} 1")
            _write("/proc/self/gid_map", f"{gid} {gid} 1")
        except OSError as error:
            return False, f"entered a user namespace but could not map ids ({error}); network not isolated"
        how = "user + network namespaces"
    else:
        first = ctypes.get_errno()
        # root without user namespaces (e.g. disabled by sysctl) can still get a network namespace
        if libc.unshare(_CLONE_NEWNET) != 0:
            return False, (
                f"unshare(CLONE_NEWUSER|CLONE_NEWNET) was refused: {errno.errorcode.get(first, first)} "
                f"({os.strerror(first)}); unprivileged user namespaces are disabled or blocked here "
                "(sysctl kernel.unprivileged_userns_clone / user.max_user_namespaces, or a container's "
                "seccomp policy). The child runs with the host's network"
            )
        how = "a network namespace"
    try:
        _loopback_up()
    except OSError as error:
        return True, f"{how}: no network at all (bringing loopback up failed: {error})"
    return True, f"{how}: loopback only, no route to the host's network or its loopback services"


def lock_down() -> list[str]:
    """No new privileges and no core files; returns what could not be applied."""
    problems = []
    libc = _libc()
    if not hasattr(libc, "prctl"):
        problems.append(f"prctl(PR_SET_NO_NEW_PRIVS) does not exist on {sys.platform}")
    elif libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        problems.append(f"prctl(PR_SET_NO_NEW_PRIVS) failed: {os.strerror(ctypes.get_errno())}")
    try:
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    except (ValueError, OSError) as error:
        problems.append(f"RLIMIT_CORE=0 failed: {error}")
    return problems


def vm_size() -> int:
    """The process's current address-space size in bytes."""
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[0])
    return pages * os.sysconf("SC_PAGE_SIZE")


def limit_address_space(extra_bytes: int) -> int:
    """Cap the address space at what is mapped now plus ``extra_bytes``; returns the cap."""
    cap = vm_size() + extra_bytes
    resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return cap


def limit_cpu_seconds(seconds: float | None) -> None:
    """Let the next call use ``seconds`` more CPU time; past it the kernel sends SIGXCPU,
    which ends the process (Python installs no handler for it)."""
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if seconds is None:
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))
        return
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = int(usage.ru_utime + usage.ru_stime) + max(1, round(seconds))
    if hard != resource.RLIM_INFINITY:
        soft = min(soft, hard)
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
