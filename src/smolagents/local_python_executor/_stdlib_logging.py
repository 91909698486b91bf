"""The sandbox's private logging world (see ``_stdlib_state``).

``logging``'s manager, root logger, logger class, record factory, level names and
"last resort" handler are process-global: the sandbox gets its own copies per executor.
Records format through the sandbox's checked ``%`` and guarded ``str.format``, so format
strings cannot walk attributes (``{msg.__init__.__globals__}``) or pad without limit, and
handlers without an explicit stream write to the call's logs, never to the host's stderr.
"""

from __future__ import annotations

import logging
import sys
import traceback
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal

from ._policy import SANDBOX_FILENAME

__all__ = ["HOST_STATE_TYPES", "SandboxMade", "logging_overrides", "refuse"]

#: Host objects that *are* host-global state; the sandbox gets private equivalents.
HOST_STATE_TYPES: dict[type, str] = {
    kind: (
        f"Host logging objects ({kind.__name__}) are not reachable from the sandbox; "
        "logging.getLogger() inside the sandbox returns a private logger whose output goes to the logs"
    )
    for kind in (logging.Logger, logging.RootLogger, logging.Manager, logging.PlaceHolder)
}


class SandboxMade:
    """Marker base of the stdlib classes built for one executor (not host state)."""

    __slots__ = ()


def refuse(gateway: Any, message: str) -> Any:
    gateway.rt.security(message)


class _SandboxStream:
    """File-like target of sandbox log handlers: the call's captured output."""

    def __init__(self, runtime: Any) -> None:
        self._rt = runtime

    def write(self, text: str) -> None:
        if self._rt.active:
            self._rt.output.write(str(text))

    def flush(self) -> None:
        pass


def logging_overrides(gateway: Any) -> dict[str, Any]:
    """A private logging world: manager, root, logger class, record factory, level names.

    Records format through the sandbox's checked ``%`` and guarded ``str.format``, so
    format strings cannot walk attributes or pad without limit, and every handler
    without an explicit stream writes to the call's logs, never to the host's stderr.
    """
    rt, guard = gateway.rt, gateway.guard
    checked_mod = gateway.operators["__sb_mod__"]
    default_stream = _SandboxStream(rt)
    level_names: dict[int, str] = {}
    name_levels: dict[str, int] = {}

    def level_name(level: Any) -> Any:
        return level_names.get(level) or logging.getLevelName(level)

    class LogRecord(logging.LogRecord, SandboxMade):
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            super().__init__(*args, **kwargs)
            self.levelname = level_name(self.levelno)

        def getMessage(self) -> str:
            message = str(self.msg)
            return checked_mod(message, self.args) if self.args else message

    factory: list[Callable[..., Any]] = [LogRecord]

    def values(style: Any, record: Any) -> dict[str, Any]:
        return style._defaults | record.__dict__ if style._defaults else record.__dict__

    class PercentStyle(logging.PercentStyle, SandboxMade):
        def _format(self, record: Any) -> str:
            return checked_mod(self._fmt, values(self, record))

    class StrFormatStyle(logging.StrFormatStyle, SandboxMade):
        def _format(self, record: Any) -> str:
            return guard.format_string(self._fmt, (), values(self, record))

    styles = {
        "%": (PercentStyle, logging.BASIC_FORMAT),
        "{": (StrFormatStyle, "{levelname}:{name}:{message}"),
        "$": (logging.StringTemplateStyle, "${levelname}:${name}:${message}"),  # key lookups only
    }

    class Formatter(logging.Formatter, SandboxMade):
        def __init__(self, fmt: Any = None, datefmt: Any = None, style: Literal["%", "{", "$"] = "%",
                     validate: bool = True,
                     *, defaults: Any = None) -> None:  # fmt: skip
            if style not in styles:
                raise ValueError("Style must be one of: " + ",".join(styles))
            super().__init__(fmt, datefmt, style, False, defaults=defaults)
            self._style = styles[style][0](fmt or styles[style][1], defaults=defaults)
            if validate:
                self._style.validate()
            self._fmt = self._style._fmt

        def formatException(self, ei: Any) -> str:
            return "".join(traceback.format_exception_only(ei[0], ei[1])).rstrip("\n")

    default_formatter = Formatter()

    class StreamHandler(logging.StreamHandler, SandboxMade):
        def __init__(self, stream: Any = None) -> None:
            super().__init__(default_stream if stream is None else stream)

        def format(self, record: Any) -> str:
            return (self.formatter or default_formatter).format(record)

    last_resort = StreamHandler()
    last_resort.setLevel(logging.WARNING)

    class Manager(logging.Manager, SandboxMade):
        pass

    manager = Manager(None)  # type: ignore[arg-type]  # its root is set below, as logging does

    class Logger(logging.Logger, SandboxMade):
        def makeRecord(self, name: Any, level: Any, fn: Any, lno: Any, msg: Any, args: Any, exc_info: Any,
                       func: Any = None, extra: Any = None, sinfo: Any = None) -> Any:  # fmt: skip
            record = factory[0](name, level, fn, lno, msg, args, exc_info, func, sinfo)
            for key in extra or ():
                if key in ("message", "asctime") or key in record.__dict__:
                    raise KeyError(f"Attempt to overwrite {key!r} in LogRecord")
                record.__dict__[key] = extra[key]
            return record

        def findCaller(self, stack_info: bool = False, stacklevel: int = 1) -> Any:
            frames = []
            frame: FrameType | None = sys._getframe(1)
            while frame is not None:  # only the sandbox's own frames, never the host's
                if frame.f_code.co_filename == SANDBOX_FILENAME:
                    frames.append(frame)
                frame = frame.f_back
            if not frames:
                return "(unknown file)", 0, "(unknown function)", None
            frame = frames[min(max(stacklevel, 1), len(frames)) - 1]
            function = "<module>" if frame.f_code.co_name == "__sb_main__" else frame.f_code.co_name
            sinfo = "Stack (most recent call last): (not available in the sandbox)" if stack_info else None
            return SANDBOX_FILENAME, frame.f_lineno, function, sinfo

        def __reduce__(self) -> Any:  # copy/pickle must come back to the private manager
            return getLogger, (self.name,)

        def callHandlers(self, record: Any) -> None:
            logger: Any = self
            found = 0
            while logger:
                for handler in logger.handlers:
                    found += 1
                    if record.levelno >= handler.level:
                        handler.handle(record)
                logger = logger.parent if logger.propagate else None
            if not found and record.levelno >= last_resort.level:
                last_resort.handle(record)

    class RootLogger(Logger):
        def __init__(self, level: Any) -> None:
            Logger.__init__(self, "root", level)

        def __reduce__(self) -> Any:
            return getLogger, ()

    root = RootLogger(logging.WARNING)
    # the sandbox's RootLogger derives from its own Logger, not from logging.RootLogger
    manager.root = root  # type: ignore[assignment]
    manager.loggerClass = Logger
    Logger.manager = manager
    Logger.root = root  # type: ignore[assignment]
    for kind in (
        LogRecord,
        PercentStyle,
        StrFormatStyle,
        Formatter,
        StreamHandler,
        Logger,
        RootLogger,
        Manager,
    ):
        kind.__module__ = "logging"

    def getLogger(name: Any = None) -> Any:
        return root if not name or (isinstance(name, str) and name == root.name) else manager.getLogger(name)

    def basicConfig(**kwargs: Any) -> None:
        if kwargs.pop("force", False):
            for handler in root.handlers[:]:
                root.removeHandler(handler)
                handler.close()
        if "filename" in kwargs:
            refuse(gateway, "logging.basicConfig(filename=...) would write a file on the host; log to the "
                             "output (the default) or create the executor with a process executor for file logs")  # fmt: skip
        for unused in ("filemode", "encoding", "errors"):
            kwargs.pop(unused, None)
        handlers = kwargs.pop("handlers", None)
        stream_ = kwargs.pop("stream", None)
        level = kwargs.pop("level", None)
        formatter = Formatter(
            kwargs.pop("format", None), kwargs.pop("datefmt", None), kwargs.pop("style", "%")
        )
        if kwargs:
            raise ValueError("Unrecognised argument(s): " + ", ".join(kwargs))
        if root.handlers:
            return
        for handler in handlers if handlers is not None else [StreamHandler(stream_)]:
            if handler.formatter is None:
                handler.setFormatter(formatter)
            root.addHandler(handler)
        if level is not None:
            root.setLevel(level)

    def module_level(method: str) -> Callable[..., None]:
        def log(*args: Any, **kwargs: Any) -> None:
            if not root.handlers:
                basicConfig()
            getattr(root, method)(*args, **kwargs)

        log.__name__ = method
        return log

    def disable(level: int = logging.CRITICAL) -> None:
        manager.disable = level
        manager._clear_cache()  # type: ignore[attr-defined]  # private, not in typeshed

    def setLoggerClass(klass: Any) -> None:
        if not (isinstance(klass, type) and issubclass(klass, Logger)):
            raise TypeError(f"logger not derived from logging.Logger: {getattr(klass, '__name__', klass)}")
        manager.loggerClass = klass

    def setLogRecordFactory(make: Callable[..., Any]) -> None:
        factory[0] = make

    def addLevelName(level: int, name: str) -> None:
        level_names[level] = name
        name_levels[name] = level

    if sys.version_info >= (3, 11):  # as in the real module

        def getLevelNamesMapping() -> dict[str, int]:
            return {**logging.getLevelNamesMapping(), **name_levels}

    def getLevelName(level: Any) -> Any:
        if level in name_levels:
            return name_levels[level]
        return level_name(level)

    def shutdown(*_args: Any) -> None:
        for handler in root.handlers:
            handler.flush()

    def captureWarnings(capture: bool) -> None:
        refuse(gateway, "logging.captureWarnings() would redirect the host's warnings; it is disabled")

    table: dict[str, Any] = {
        "LogRecord": LogRecord,
        "PercentStyle": PercentStyle,
        "StrFormatStyle": StrFormatStyle,
        "Formatter": Formatter,
        "StreamHandler": StreamHandler,
        "Logger": Logger,
        "RootLogger": RootLogger,
        "Manager": Manager,
        "root": root,
        "lastResort": last_resort,
        "getLogger": getLogger,
        "basicConfig": basicConfig,
        "disable": disable,
        "getLoggerClass": lambda: manager.loggerClass,
        "setLoggerClass": setLoggerClass,
        "getLogRecordFactory": lambda: factory[0],
        "setLogRecordFactory": setLogRecordFactory,
        "makeLogRecord": lambda attributes: _make_record(factory[0], attributes),
        "addLevelName": addLevelName,
        "getLevelName": getLevelName,
        "shutdown": shutdown,
        "captureWarnings": captureWarnings,
    }
    if sys.version_info >= (3, 11):
        table["getLevelNamesMapping"] = getLevelNamesMapping
    table.update(
        {
            name: module_level(name)
            for name in ("debug", "info", "warning", "warn", "error", "exception", "critical", "fatal", "log")
        }
    )
    return table


def _make_record(factory: Callable[..., Any], attributes: Any) -> Any:
    record = factory(None, None, "", 0, "", (), None, None)
    record.__dict__.update(dict(attributes))
    return record
