"""Compatibility path for tool source building; it lives in :mod:`smolagents.tools._source`.

Remote executors import these names from here.
"""

from __future__ import annotations

from .tools._source import CODE_MODULE_PREFIX as _CODE_MODULE_PREFIX
from .tools._source import GRADIO_APP as _GRADIO_APP
from .tools._source import PIP_NAMES as _PIP_NAMES
from .tools._source import SourceBuilder as _SourceBuilder
from .tools._source import attribute_paths as _attribute_paths
from .tools._source import check_rebuildable as _check_rebuildable
from .tools._source import code_requirements as _requirements
from .tools._source import free_names as _free_names
from .tools._source import tool_source as _tool_source

__all__ = [
    "_CODE_MODULE_PREFIX",
    "_GRADIO_APP",
    "_PIP_NAMES",
    "_SourceBuilder",
    "_attribute_paths",
    "_check_rebuildable",
    "_free_names",
    "_requirements",
    "_tool_source",
]
