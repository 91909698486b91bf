"""Static security tables: which names, attributes and modules the sandbox may reach.

Everything here is data, so a reviewer can audit the whole policy on one page. The rules
are default-deny: a dunder is refused unless listed, a module is refused unless the user
authorised it, and a few non-underscore names (frames, code objects, ``mro``) are refused
everywhere because they lead out of the sandbox without ever spelling ``_``.
"""

from __future__ import annotations

from .._sandbox_defaults import BASE_BUILTIN_MODULES  # the documented defaults, re-exported here

__all__ = [
    "ALLOWED_DUNDER_ACCESS",
    "ALLOWED_DUNDER_DEFINITIONS",
    "BASE_BUILTIN_MODULES",
    "BLOCKED_ATTRIBUTES",
    "DANGEROUS_MODULE_ROOTS",
    "DATA_IO_ATTRIBUTES",
    "HELPER_PREFIX",
    "NEVER_VIA_WILDCARD",
    "REFUSED_CAPABILITIES",
    "SANDBOX_FILENAME",
    "STRING_DUNDERS",
    "is_dunder",
    "refused_capability",
]

#: Filename given to compiled sandbox code; tracebacks use it to find the user's line.
SANDBOX_FILENAME = "<sandbox>"

#: Every name the rewriter injects starts with this and ends with ``__`` (so that class
#: bodies never mangle it); user code can never spell such a name.
HELPER_PREFIX = "__sb_"

#: Attribute names refused on every object, although they do not start with ``_``: they
#: reach frames, code objects, class graphs or raw memory.
BLOCKED_ATTRIBUTES = frozenset(
    {
        # frames, generators, coroutines, tracebacks
        "gi_frame",
        "gi_code",
        "gi_yieldfrom",
        "cr_frame",
        "cr_code",
        "cr_await",
        "cr_origin",
        "ag_frame",
        "ag_code",
        "ag_await",
        "tb_frame",
        "tb_next",
        "tb_lasti",
        "f_back",
        "f_globals",
        "f_locals",
        "f_builtins",
        "f_code",
        "f_trace",
        "f_lasti",
        # code objects and legacy function attributes
        "co_code",
        "co_consts",
        "co_names",
        "func_globals",
        "func_code",
        "func_closure",
        "im_func",
        "im_self",
        # class graph walks
        "mro",
        # raw memory and foreign functions (numpy arrays expose ``.ctypes``)
        "ctypes",
    }
)

#: Dunders a class body may define (methods or plain assignments). ``__del__``,
#: ``__reduce__`` and friends are missing on purpose: the host would run them later.
ALLOWED_DUNDER_DEFINITIONS = frozenset(
    {
        "__init__",
        "__new__",
        "__post_init__",
        "__repr__",
        "__str__",
        "__format__",
        "__bytes__",
        "__hash__",
        "__bool__",
        "__len__",
        "__length_hint__",
        "__iter__",
        "__next__",
        "__reversed__",
        "__contains__",
        "__getitem__",
        "__setitem__",
        "__delitem__",
        "__missing__",
        "__call__",
        "__enter__",
        "__exit__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__get__",
        "__set__",
        "__delete__",
        "__set_name__",
        "__eq__",
        "__ne__",
        "__lt__",
        "__le__",
        "__gt__",
        "__ge__",
        "__int__",
        "__float__",
        "__complex__",
        "__index__",
        "__round__",
        "__trunc__",
        "__floor__",
        "__ceil__",
        "__neg__",
        "__pos__",
        "__abs__",
        "__invert__",
        "__slots__",
        "__doc__",
        *(
            f"__{prefix}{op}__"
            for op in (
                "add",
                "sub",
                "mul",
                "matmul",
                "truediv",
                "floordiv",
                "mod",
                "divmod",
                "pow",
                "lshift",
                "rshift",
                "and",
                "xor",
                "or",
            )
            for prefix in ("", "r", "i")
        ),
    }
)

#: Dunders whose value is a plain string, safe to read on any object.
STRING_DUNDERS = frozenset({"__name__", "__qualname__", "__doc__"})

#: Dunders sandboxed code may read as attributes (``super().__init__(...)``,
#: ``type(x).__name__``). Only on ``super()`` objects, sandbox-made classes and their
#: instances, and builtin types, except for the string dunders which are safe anywhere.
#: Amplifying operators (``"%9d".__mod__``, ``int.__pow__``, ``__floordiv__``) and ``__format__`` are left
#: out: called directly they would skip the checked operators of ``_ops``.
ALLOWED_DUNDER_ACCESS = frozenset(
    (ALLOWED_DUNDER_DEFINITIONS | STRING_DUNDERS)
    - {
        "__new__",
        "__getattr__",
        "__setattr__",
        "__delattr__",
        "__set_name__",
        "__get__",
        "__set__",
        "__delete__",
    }
    - {"__slots__", "__format__"}
    - {
        f"__{prefix}{op}__"
        for op in ("mul", "pow", "lshift", "mod", "floordiv", "divmod")
        for prefix in ("", "r", "i")
    }
)

#: Top-level packages that are never reachable *indirectly* (as an attribute value, a
#: function's home module or a class's module) unless the user authorised them by name.
DANGEROUS_MODULE_ROOTS = frozenset(
    {
        "os",
        "posix",
        "nt",
        "posixpath",
        "ntpath",
        "sys",
        "subprocess",
        "_posixsubprocess",
        "shutil",
        "builtins",
        "importlib",
        "_imp",
        "io",
        "_io",
        "socket",
        "_socket",
        "ssl",
        "_ssl",
        "ctypes",
        "_ctypes",
        "cffi",
        "pickle",
        "_pickle",
        "marshal",
        "shelve",
        "dbm",
        "multiprocessing",
        "_multiprocessing",
        "threading",
        "_thread",
        "concurrent",
        "asyncio",
        "signal",
        "pty",
        "tty",
        "termios",
        "fcntl",
        "resource",
        "mmap",
        "code",
        "codeop",
        "runpy",
        "inspect",
        "gc",
        "tempfile",
        "pathlib",
        "glob",
        "urllib",
        "http",
        "ftplib",
        "smtplib",
        "poplib",
        "imaplib",
        "telnetlib",
        "xmlrpc",
        "socketserver",
        "selectors",
        "select",
        "webbrowser",
        "zipimport",
        "pkgutil",
        "sysconfig",
        "site",
        "platform",
        "getpass",
        "pwd",
        "grp",
        "sqlite3",
        "zipfile",
        "tarfile",
        "atexit",
        "faulthandler",
        "tracemalloc",
        "traceback",
        "types",
        "weakref",
        "copyreg",
        "jinja2",
        "mako",
        "requests",
        "httpx",
        "aiohttp",
        "setuptools",
        "pip",
        "distutils",
        "venv",
        "ensurepip",
    }
)

#: Submodules a wildcard such as ``'numpy.*'`` does not authorise: they compile or load
#: native code, or run subprocesses. Naming one explicitly still authorises it.
NEVER_VIA_WILDCARD = frozenset(
    {
        "numpy.f2py",
        "numpy.ctypeslib",
        "numpy.distutils",
        "numpy.testing",
        "numpy.lib.format",
        "numpy.lib.npyio",
        "pandas.io",
        "pandas.util",
        "pandas.testing",
        # pandas internals that evaluate strings, import plugins, load pickles or
        # register accessors on host classes
        "pandas.compat",
        "pandas.plotting",
        "pandas.api.extensions",
        "pandas.api.interchange",
        "pandas.core.interchange",
        "pandas.core.computation",
        "pandas.core.config_init",
        "pandas.core.accessor",
    }
)

#: Methods of pandas / numpy objects that read or write files or evaluate code strings.
#: ``to_*`` writers are allowed without a path (they then return a string).
DATA_IO_ATTRIBUTES = frozenset(
    {
        "tofile",
        "dump",
        "to_csv",
        "to_excel",
        "to_parquet",
        "to_pickle",
        "to_hdf",
        "to_sql",
        "to_feather",
        "to_stata",
        "to_json",
        "to_html",
        "to_latex",
        "to_markdown",
        "to_xml",
        "to_clipboard",
        "to_orc",
        "to_string",
        "query",
        "eval",
        "style",
    }
)


def is_dunder(name: str) -> bool:
    """True for ``__x`` style names (dunders and class-private names)."""
    return name.startswith("__")


_EXEC_FAMILY = ("execl", "execle", "execlp", "execlpe", "execv", "execve", "execvp", "execvpe")
_SPAWN_FAMILY = ("spawnl", "spawnle", "spawnlp", "spawnlpe", "spawnv", "spawnve", "spawnvp", "spawnvpe")
_OS_PROCESS = frozenset(
    {
        "system",
        "popen",
        "fork",
        "forkpty",
        "posix_spawn",
        "posix_spawnp",
        "startfile",
        "kill",
        "killpg",
        "abort",
        "register_at_fork",
        *_EXEC_FAMILY,
        *_SPAWN_FAMILY,
    }
)
_EVALUATES = "evaluates code or reaches the interpreter's internals"
_SPAWNS = "creates or signals processes"

#: Capabilities refused however a module was authorised (by name, by wildcard or with
#: ``'*'``): process creation and code evaluation. ``module -> {name: why}``; the name
#: ``'*'`` refuses every callable of the module (its constants stay readable).
REFUSED_CAPABILITIES: dict[str, dict[str, str]] = {
    "os": dict.fromkeys(_OS_PROCESS, _SPAWNS),
    "posix": dict.fromkeys(_OS_PROCESS, _SPAWNS),
    "nt": dict.fromkeys(_OS_PROCESS, _SPAWNS),
    "subprocess": {"*": _SPAWNS},
    "_posixsubprocess": {"*": _SPAWNS},
    "multiprocessing": {"*": _SPAWNS},
    "concurrent.futures.process": {"*": _SPAWNS},
    "pty": {"*": _SPAWNS},
    "webbrowser": {"*": _SPAWNS},
    "asyncio": dict.fromkeys(("create_subprocess_exec", "create_subprocess_shell"), _SPAWNS),
    "builtins": dict.fromkeys(
        ("eval", "exec", "compile", "breakpoint", "globals", "locals", "vars", "input", "help"), _EVALUATES
    ),
    "importlib": {"*": _EVALUATES},
    "importlib.util": {"*": _EVALUATES},
    "importlib.machinery": {"*": _EVALUATES},
    "runpy": {"*": _EVALUATES},
    "code": {"*": _EVALUATES},
    "codeop": {"*": _EVALUATES},
    "pdb": {"*": _EVALUATES},
    "bdb": {"*": _EVALUATES},
    "ctypes": {"*": _EVALUATES},
    "_ctypes": {"*": _EVALUATES},
    "marshal": dict.fromkeys(("load", "loads"), _EVALUATES),
    "types": dict.fromkeys(("FunctionType", "LambdaType", "CodeType", "MethodType", "CellType"), _EVALUATES),
    "gc": dict.fromkeys(("get_objects", "get_referrers", "get_referents", "get_stats"), _EVALUATES),
    "inspect": dict.fromkeys(
        (
            "getmembers",
            "getmembers_static",
            "getattr_static",
            "currentframe",
            "stack",
            "trace",
            "getouterframes",
            "getinnerframes",
            "getclosurevars",
            "getgeneratorlocals",
            "getcoroutinelocals",
            "getargvalues",
            "unwrap",
        ),
        _EVALUATES,
    ),
    "sys": dict.fromkeys(
        (
            "settrace",
            "setprofile",
            "addaudithook",
            "call_tracing",
            "setrecursionlimit",
            "setswitchinterval",
            "set_int_max_str_digits",
            "modules",
            "meta_path",
            "path_hooks",
        ),
        _EVALUATES,
    ),
    "threading": dict.fromkeys(
        ("settrace", "setprofile", "settrace_all_threads", "setprofile_all_threads"), _EVALUATES
    ),
}


def refused_capability(module: str, name: str, is_callable: bool) -> str | None:
    """Why ``module.name`` is refused even in an authorised module, or None."""
    table = REFUSED_CAPABILITIES.get(module)
    why = table.get(name) if table is not None else None
    if why is None and is_callable:
        # '*' covers the module's submodules too (``multiprocessing.context.Process``)
        parts = module.split(".")
        for end in range(len(parts), 0, -1):
            why = REFUSED_CAPABILITIES.get(".".join(parts[:end]), {}).get("*")
            if why is not None:
                break
    if why is None:
        return None
    return (
        f"'{module}.{name}' {why}; the sandbox refuses it even when '{module}' is authorised. "
        "If the agent really needs it, give it a tool that does exactly that (tools=[...]), "
        "or run the code in an isolated executor."
    )
