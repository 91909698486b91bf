"""The local sandbox run in a confined child process: ``ProcessExecutor``.

The child is killed at a hard deadline (so even one long C-level call stops), capped in
memory and CPU time, kept off the network where the kernel allows a namespace, and
restarted after a kill or a crash; tools run in the parent. See ``_executor``.
"""

from __future__ import annotations

from ._executor import ProcessExecutor

__all__ = ["ProcessExecutor"]
