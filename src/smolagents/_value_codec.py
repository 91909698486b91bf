"""Typed encoding of values that cross an executor boundary: data, never code.

Why: a remote or child interpreter is untrusted. Sending values to it, or reading its
results, must not run code on either side, which rules out pickle (the classic attack on
remote executors). Every value becomes a JSON tree: JSON's own types stand for
themselves, anything else is an object tagged with ``"$t"``::

    {"$t": "tuple", "v": [...]}        {"$t": "bytes", "v": "<base64>"}
    {"$t": "ndarray", "dtype": "<f8", "shape": [2, 3], "v": "<base64>"}

Decoding checks each tag's structure strictly and refuses anything else with a
``ValueCodecError``; nesting depth and node counts are bounded on both sides, and
hash-flooding sets/dicts are refused. Pickle is used only when a caller passes
``allow_pickle=True``, and then with a warning.

This module is self-contained on purpose: only the standard library at top level
(numpy, pandas and PIL are imported lazily, when a value or payload needs them) and no
smolagents imports, so its source (``inspect.getsource``) can be executed inside a remote
interpreter (a Jupyter kernel, Pyodide) to get the very same functions there.
"""

from __future__ import annotations

import base64
import datetime as _dt
import decimal
import fractions
import io
import json
import math
import re
import sys
import warnings
from types import FrameType
from typing import Any

__all__ = [
    "MAX_DEPTH",
    "MAX_NODES",
    "ValueCodecError",
    "decode_value",
    "dumps",
    "encode_value",
    "loads",
]

#: deepest nesting of containers accepted either way (a cycle also ends here)
MAX_DEPTH = 100
#: most values encoded in one call (exponentially shared structures end here)
MAX_NODES = 1_000_000
_TAG = "$t"
_NATIVE_INT_BOUND = 1 << 63
_MAX_COLLISIONS = 64
_MAX_DECIMAL_CHARS = 100_000
_MAX_NDIM = 32
_DTYPE_RE = re.compile(r"^[<>|=]?[a-zA-Z][0-9]*(\[[0-9]*[a-zA-Z]+\])?$")
_PNG_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})
_SUPPORTED = (
    "str, int, float, bool, None, list, tuple, dict, set, frozenset, bytes, datetime, date, "
    "time, timedelta, Decimal, Fraction, complex, PIL images, numpy arrays and scalars, "
    "pandas DataFrame/Series/Index"
)


class ValueCodecError(ValueError):
    """A value cannot be encoded, or a payload is not a valid encoding."""


def _outside_stacklevel() -> int:
    """The ``stacklevel`` that points a warning at the first caller outside this module."""
    frame: FrameType | None = sys._getframe(1)
    level = 1
    while frame is not None and frame.f_globals is globals():
        frame, level = frame.f_back, level + 1
    return level


def _type_name(value: Any) -> str:
    cls = type(value)
    module = getattr(cls, "__module__", "")
    return cls.__qualname__ if module == "builtins" else f"{module}.{cls.__qualname__}"


# ---------------------------------------------------------------------------- encoding
class _Encoder:
    __slots__ = ("allow_pickle", "nodes")

    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle
        self.nodes = 0

    def encode(self, value: Any, depth: int) -> Any:
        cls = type(value)
        if cls is str or cls is bool or value is None:
            return value
        if cls is int:
            if -_NATIVE_INT_BOUND < value < _NATIVE_INT_BOUND:
                return value
            return {_TAG: "int", "v": hex(value)}
        if cls is float:
            return value if math.isfinite(value) else {_TAG: "float", "v": repr(value)}
        self.nodes += 1
        if self.nodes > MAX_NODES:
            raise ValueCodecError(
                f"The value has more than {MAX_NODES} parts (or shares sub-structures exponentially); "
                "send a smaller value or flatten it"
            )
        if depth > MAX_DEPTH:
            raise ValueCodecError(
                f"The value is nested deeper than {MAX_DEPTH} levels (or contains itself); "
                "flatten it or break the cycle before sending it"
            )
        depth += 1
        if cls is list:
            return [self.encode(item, depth) for item in value]
        if cls is dict:
            return self._dict(value, depth)
        if cls is tuple:
            return {_TAG: "tuple", "v": [self.encode(item, depth) for item in value]}
        encoder = _ENCODERS.get(cls)
        if encoder is not None:
            return encoder(self, value, depth)
        return self._other(value, depth)

    def _dict(self, value: dict, depth: int) -> Any:
        items = dict.items(value)
        if _TAG not in value and all(type(key) is str for key in dict.keys(value)):
            return {key: self.encode(item, depth) for key, item in items}
        return {_TAG: "dict", "v": [[self.encode(k, depth), self.encode(v, depth)] for k, v in items]}

    def _other(self, value: Any, depth: int) -> Any:
        """Subclasses of the builtin types travel as their base type; then the optional
        libraries; then pickle if allowed; else a clear error."""
        # Base-class methods only: an overriding subclass method is not called.
        if isinstance(value, bool):
            return bool.__bool__(value)
        if isinstance(value, int):
            return self.encode(int.__int__(value), depth)
        if isinstance(value, float):
            return self.encode(float.__float__(value), depth)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, (bytes, bytearray)):
            return _enc_bytes(self, bytes(memoryview(value)), depth)
        if isinstance(value, tuple):
            return self.encode(tuple.__getitem__(value, slice(None)), depth)
        if isinstance(value, list):
            return self.encode(list.copy(value), depth)
        if isinstance(value, dict):
            return self._dict(dict(dict.items(value)), depth)
        if isinstance(value, (set, frozenset)):
            return _enc_set(self, value, depth)
        if isinstance(value, (_dt.date, _dt.time, _dt.timedelta, decimal.Decimal, fractions.Fraction)):
            for base in type(value).__mro__:
                if base in _ENCODERS:
                    return _ENCODERS[base](self, value, depth)
        encoded = _encode_library_value(self, value, depth)
        if encoded is not None:
            return encoded
        return self._pickle(value, f"values of type {_type_name(value)!r} have no typed encoding")

    def _pickle(self, value: Any, why: str) -> Any:
        if not self.allow_pickle:
            raise ValueCodecError(
                f"Cannot send a value of type {_type_name(value)!r}: {why}. Convert it to a supported "
                f"type first ({_SUPPORTED}), e.g. with str() or a dict of its fields; or pass "
                "allow_pickle=True if the receiving side is trusted"
            )
        import pickle

        warnings.warn(
            f"Pickling a value of type {_type_name(value)!r} to cross an executor boundary: "
            "unpickling runs code, so do this only between trusted sides",
            stacklevel=_outside_stacklevel(),
        )
        try:
            data = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception as error:
            raise ValueCodecError(
                f"Cannot pickle a value of type {_type_name(value)!r}: {type(error).__name__}: {error}"
            ) from None
        return {_TAG: "pickle", "v": _b64(data)}


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _enc_bytes(enc: _Encoder, value: bytes, depth: int) -> Any:
    return {_TAG: "bytes", "v": _b64(value)}


def _enc_bytearray(enc: _Encoder, value: bytearray, depth: int) -> Any:
    return {_TAG: "bytearray", "v": _b64(bytes(value))}


def _enc_set(enc: _Encoder, value: Any, depth: int) -> Any:
    tag = "frozenset" if isinstance(value, frozenset) else "set"
    return {_TAG: tag, "v": [enc.encode(item, depth) for item in value]}


def _enc_datetime(enc: _Encoder, value: _dt.datetime, depth: int) -> Any:
    out: dict[str, Any] = {_TAG: "datetime", "v": _dt.datetime.isoformat(value)}
    _add_zone(out, value.tzinfo, value.fold)
    return out


def _add_zone(out: dict[str, Any], tz: Any, fold: int) -> None:
    key = getattr(tz, "key", None)
    if tz is not None and type(tz).__name__ == "ZoneInfo" and isinstance(key, str):
        out["zone"] = key
    if fold:
        out["fold"] = 1


def _enc_date(enc: _Encoder, value: _dt.date, depth: int) -> Any:
    return {_TAG: "date", "v": _dt.date.isoformat(value)}


def _enc_time(enc: _Encoder, value: _dt.time, depth: int) -> Any:
    out: dict[str, Any] = {_TAG: "time", "v": _dt.time.isoformat(value)}
    _add_zone(out, value.tzinfo, value.fold)
    return out


def _enc_timedelta(enc: _Encoder, value: _dt.timedelta, depth: int) -> Any:
    return {_TAG: "timedelta", "v": [value.days, value.seconds, value.microseconds]}


def _enc_decimal(enc: _Encoder, value: decimal.Decimal, depth: int) -> Any:
    return {_TAG: "decimal", "v": decimal.Decimal.__str__(value)}


def _enc_fraction(enc: _Encoder, value: fractions.Fraction, depth: int) -> Any:
    return {_TAG: "fraction", "v": [enc.encode(value.numerator, depth), enc.encode(value.denominator, depth)]}


def _enc_complex(enc: _Encoder, value: complex, depth: int) -> Any:
    return {_TAG: "complex", "v": [enc.encode(value.real, depth), enc.encode(value.imag, depth)]}


_ENCODERS: dict[type, Any] = {
    bytes: _enc_bytes,
    bytearray: _enc_bytearray,
    set: _enc_set,
    frozenset: _enc_set,
    _dt.datetime: _enc_datetime,
    _dt.date: _enc_date,
    _dt.time: _enc_time,
    _dt.timedelta: _enc_timedelta,
    decimal.Decimal: _enc_decimal,
    fractions.Fraction: _enc_fraction,
    complex: _enc_complex,
}


def _encode_library_value(enc: _Encoder, value: Any, depth: int) -> Any:
    """numpy / pandas / PIL values; a library that is not imported cannot have made one."""
    np = sys.modules.get("numpy")
    if np is not None:
        if isinstance(value, np.ndarray):
            return _enc_ndarray(enc, np, value)
        if isinstance(value, np.generic):
            return _enc_npscalar(enc, np, value)
    pd = sys.modules.get("pandas")
    if pd is not None and isinstance(value, (pd.DataFrame, pd.Series, pd.Index)):
        return _enc_pandas(enc, pd, value, depth)
    pil = sys.modules.get("PIL.Image")
    if pil is not None and isinstance(value, pil.Image):
        return _enc_image(enc, value)
    return None


def _enc_dtype(dtype: Any) -> Any:
    if dtype.fields is None and dtype.subdtype is None:
        return dtype.str
    fields = [[name, _enc_dtype(dtype.fields[name][0])] for name in dtype.names or ()]
    if dtype.subdtype is not None or sum(dtype.fields[n][0].itemsize for n in dtype.names) != dtype.itemsize:
        raise ValueCodecError(
            f"Cannot send an array of dtype {dtype}: only packed structured dtypes without sub-arrays "
            "have a typed encoding; convert it (e.g. numpy.lib.recfunctions.repack_fields) or send its fields"
        )
    return fields


def _enc_ndarray(enc: _Encoder, np: Any, value: Any) -> Any:
    if value.dtype.hasobject:
        return enc._pickle(value, "object arrays hold arbitrary Python objects")
    dtype = _enc_dtype(value.dtype)
    return {_TAG: "ndarray", "dtype": dtype, "shape": list(value.shape), "v": _b64(value.tobytes())}


def _enc_npscalar(enc: _Encoder, np: Any, value: Any) -> Any:
    if value.dtype.hasobject:
        return enc._pickle(value, "object scalars hold arbitrary Python objects")
    return {_TAG: "npscalar", "dtype": _enc_dtype(value.dtype), "v": _b64(value.tobytes())}


def _enc_column(enc: _Encoder, pd: Any, values: Any, depth: int) -> Any:
    """One column (a Series or Index): numpy dtypes as raw arrays, categoricals by codes,
    everything else (object, strings, nullable and tz-aware types) element by element."""
    dtype = values.dtype
    np = sys.modules["numpy"]
    if isinstance(dtype, np.dtype) and not dtype.hasobject:
        return {"kind": "array", "v": _enc_ndarray(enc, np, values.to_numpy())}
    if isinstance(dtype, pd.CategoricalDtype):
        cat = values.array
        return {
            "kind": "category",
            "categories": _enc_pandas(enc, pd, cat.categories, depth),
            "codes": _enc_ndarray(enc, np, np.asarray(cat.codes)),
            "ordered": bool(cat.ordered),
        }
    items = [None if _is_missing(pd, item) else enc.encode(_plain(item), depth) for item in values.array]
    return {"kind": "values", "dtype": str(dtype), "v": items}


def _is_missing(pd: Any, item: Any) -> bool:
    return item is pd.NA or item is pd.NaT or item is None


def _plain(item: Any) -> Any:
    """pandas scalars as the standard types they stand for."""
    for name in ("to_pydatetime", "to_pytimedelta"):
        convert = getattr(type(item), name, None)
        if convert is not None and type(item).__module__.startswith("pandas"):
            return convert(item)
    return item


def _enc_pandas(enc: _Encoder, pd: Any, value: Any, depth: int) -> Any:
    if isinstance(value, pd.DataFrame):
        columns = [_enc_column(enc, pd, value.iloc[:, i], depth) for i in range(value.shape[1])]
        return {
            _TAG: "dataframe",
            "index": _enc_pandas(enc, pd, value.index, depth),
            "columns": _enc_pandas(enc, pd, value.columns, depth),
            "data": columns,
        }
    if isinstance(value, pd.Series):
        return {
            _TAG: "series",
            "name": enc.encode(value.name, depth),
            "index": _enc_pandas(enc, pd, value.index, depth),
            "values": _enc_column(enc, pd, value, depth),
        }
    if isinstance(value, pd.RangeIndex):
        return {
            _TAG: "rangeindex",
            "v": [value.start, value.stop, value.step],
            "name": enc.encode(value.name, depth),
        }
    if isinstance(value, pd.MultiIndex):
        return {
            _TAG: "multiindex",
            "v": [enc.encode(tuple(item), depth) for item in value],
            "names": [enc.encode(name, depth) for name in value.names],
        }
    return {
        _TAG: "index",
        "name": enc.encode(value.name, depth),
        "values": _enc_column(enc, pd, value, depth),
    }


def _enc_image(enc: _Encoder, value: Any) -> Any:
    if value.mode in _PNG_MODES:
        buffer = io.BytesIO()
        value.save(buffer, format="PNG")
        return {_TAG: "image", "format": "png", "v": _b64(buffer.getvalue())}
    return {
        _TAG: "image",
        "format": "raw",
        "mode": value.mode,
        "size": list(value.size),
        "v": _b64(value.tobytes()),
    }


def encode_value(value: Any, *, allow_pickle: bool = False) -> Any:
    """``value`` as a JSON-serialisable tree; ``ValueCodecError`` names what cannot be sent."""
    try:
        return _Encoder(allow_pickle).encode(value, 0)
    except RecursionError:
        raise ValueCodecError(
            "The value is nested too deeply to encode; flatten it before sending it"
        ) from None


def dumps(value: Any, *, allow_pickle: bool = False) -> str:
    """``value`` encoded as compact JSON text (ASCII only, so any transport carries it)."""
    return json.dumps(encode_value(value, allow_pickle=allow_pickle), separators=(",", ":"), allow_nan=False)


# ---------------------------------------------------------------------------- decoding
def _bad(what: str) -> ValueCodecError:
    return ValueCodecError(f"Malformed encoded value: {what}")


class _Decoder:
    __slots__ = ("allow_pickle",)

    def __init__(self, allow_pickle: bool) -> None:
        self.allow_pickle = allow_pickle

    def decode(self, payload: Any, depth: int) -> Any:
        cls = type(payload)
        if cls is str or cls is int or cls is bool or payload is None:
            return payload
        if cls is float:
            if not math.isfinite(payload):
                raise _bad("a bare non-finite float (those travel tagged as 'float')")
            return payload
        if depth > MAX_DEPTH:
            raise ValueCodecError(f"Encoded value nested deeper than {MAX_DEPTH} levels; refusing it")
        depth += 1
        if cls is list:
            return [self.decode(item, depth) for item in payload]
        if cls is not dict:
            raise _bad(f"unexpected {_type_name(payload)} in the payload (only JSON types can appear)")
        tag = payload.get(_TAG)
        if tag is None:
            return {key: self.decode(item, depth) for key, item in payload.items()}
        decoder = _DECODERS.get(tag) if type(tag) is str else None
        if decoder is None:
            raise _bad(f"unknown tag {str(tag)[:50]!r} (known: {', '.join(sorted(_DECODERS))})")
        try:
            return decoder(self, payload, depth)
        except ValueCodecError:
            raise
        except (ValueError, TypeError, KeyError, IndexError, OverflowError, AttributeError) as error:
            raise _bad(f"invalid {tag!r} value: {type(error).__name__}: {str(error)[:200]}") from None

    def items(self, payload: dict, depth: int, allowed: tuple[str, ...] = ()) -> list:
        value = _field(payload, "v", list, allowed)
        return [self.decode(item, depth) for item in value]

    def hashable(self, items: list, what: str) -> list:
        """Refuse unhashable members and hash-flooding (many distinct values, one hash)."""
        counts: dict[int, int] = {}
        for item in items:
            try:
                key = hash(item)
            except TypeError:
                raise _bad(f"an unhashable {_type_name(item)} inside a {what}") from None
            count = counts.get(key, 0) + 1
            if count > _MAX_COLLISIONS:
                raise _bad(f"more than {_MAX_COLLISIONS} {what} members share one hash (hash flooding)")
            counts[key] = count
        return items


def _field(payload: dict, name: str, kind: type | tuple[type, ...], allowed: tuple[str, ...] = ()) -> Any:
    extra = set(payload) - {_TAG, name, *allowed}
    if extra:
        raise _bad(f"unexpected fields {sorted(extra)[:5]} in a {payload[_TAG]!r} value")
    if name not in payload:
        raise _bad(f"a {payload[_TAG]!r} value without its {name!r} field")
    value = payload[name]
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        raise _bad(f"the {name!r} field of a {payload[_TAG]!r} value is a {_type_name(value)}")
    return value


def _unb64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError:
        raise _bad("invalid base64 data") from None


def _dec_int(dec: _Decoder, p: dict, depth: int) -> int:
    text = _field(p, "v", str)
    if not re.fullmatch(r"-?0x[0-9a-f]+", text):
        raise _bad("an 'int' value must be a hex literal like '-0x1f'")
    return int(text, 16)


def _dec_float(dec: _Decoder, p: dict, depth: int) -> float:
    text = _field(p, "v", str)
    if text not in ("nan", "inf", "-inf"):
        raise _bad(f"a 'float' value must be 'nan', 'inf' or '-inf', got {text[:30]!r}")
    return float(text)


def _dec_tuple(dec: _Decoder, p: dict, depth: int) -> tuple:
    return tuple(dec.items(p, depth))


def _dec_set(dec: _Decoder, p: dict, depth: int) -> Any:
    items = dec.hashable(dec.items(p, depth), "set")
    return frozenset(items) if p[_TAG] == "frozenset" else set(items)


def _dec_dict(dec: _Decoder, p: dict, depth: int) -> dict:
    pairs = _field(p, "v", list)
    keys, values = [], []
    for pair in pairs:
        if type(pair) is not list or len(pair) != 2:
            raise _bad("a 'dict' value must be a list of [key, value] pairs")
        keys.append(dec.decode(pair[0], depth))
        values.append(dec.decode(pair[1], depth))
    dec.hashable(keys, "dict key")
    return dict(zip(keys, values))


def _dec_bytes(dec: _Decoder, p: dict, depth: int) -> Any:
    data = _unb64(_field(p, "v", str))
    return bytearray(data) if p[_TAG] == "bytearray" else data


def _zone(p: dict) -> Any:
    key = p.get("zone")
    if key is None:
        return None
    if type(key) is not str or not re.fullmatch(r"[A-Za-z0-9_+\-]+(/[A-Za-z0-9_+\-]+)*", key):
        raise _bad("a time zone must be an IANA key like 'Europe/Paris'")
    import zoneinfo

    try:
        return zoneinfo.ZoneInfo(key)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise ValueCodecError(f"Unknown time zone {key!r} on this side (is tzdata installed?)") from None


def _fold(p: dict) -> int:
    fold = p.get("fold", 0)
    if fold not in (0, 1) or type(fold) is not int:
        raise _bad("'fold' must be 0 or 1")
    return fold


def _dec_datetime(dec: _Decoder, p: dict, depth: int) -> _dt.datetime:
    value = _dt.datetime.fromisoformat(_field(p, "v", str, ("zone", "fold")))
    zone = _zone(p)
    if zone is not None:
        value = value.replace(tzinfo=zone)
    return value.replace(fold=_fold(p))


def _dec_date(dec: _Decoder, p: dict, depth: int) -> _dt.date:
    return _dt.date.fromisoformat(_field(p, "v", str))


def _dec_time(dec: _Decoder, p: dict, depth: int) -> _dt.time:
    value = _dt.time.fromisoformat(_field(p, "v", str, ("zone", "fold")))
    zone = _zone(p)
    if zone is not None:
        value = value.replace(tzinfo=zone)
    return value.replace(fold=_fold(p))


def _ints(values: Any, count: int, what: str) -> list[int]:
    if type(values) is not list or len(values) != count or any(type(v) is not int for v in values):
        raise _bad(f"{what} must be a list of {count} integers")
    return values


def _dec_timedelta(dec: _Decoder, p: dict, depth: int) -> _dt.timedelta:
    days, seconds, micro = _ints(_field(p, "v", list), 3, "a 'timedelta' value")
    return _dt.timedelta(days=days, seconds=seconds, microseconds=micro)


def _dec_decimal(dec: _Decoder, p: dict, depth: int) -> decimal.Decimal:
    text = _field(p, "v", str)
    if len(text) > _MAX_DECIMAL_CHARS:
        raise _bad(f"a 'decimal' value longer than {_MAX_DECIMAL_CHARS} characters")
    try:
        return decimal.Decimal(text)
    except decimal.InvalidOperation:
        raise _bad(f"invalid decimal {text[:30]!r}") from None


def _dec_fraction(dec: _Decoder, p: dict, depth: int) -> fractions.Fraction:
    parts = dec.items(p, depth)
    _ints(parts, 2, "a 'fraction' value")
    return fractions.Fraction(parts[0], parts[1])


def _dec_complex(dec: _Decoder, p: dict, depth: int) -> complex:
    parts = dec.items(p, depth)
    if len(parts) != 2 or any(type(part) is not float and type(part) is not int for part in parts):
        raise _bad("a 'complex' value must be [real, imag] numbers")
    return complex(parts[0], parts[1])


def _dec_pickle(dec: _Decoder, p: dict, depth: int) -> Any:
    if not dec.allow_pickle:
        raise ValueCodecError(
            "The payload contains a pickle, which is refused: unpickling runs code chosen by the "
            "sender. Pass allow_pickle=True only if the sending side is trusted"
        )
    import pickle

    warnings.warn(
        "Unpickling a value that crossed an executor boundary: this runs code",
        stacklevel=_outside_stacklevel(),
    )
    return pickle.loads(_unb64(_field(p, "v", str)))


def _library(name: str) -> Any:
    import importlib

    try:
        return importlib.import_module(name)
    except ImportError:
        raise ValueCodecError(
            f"The payload holds a {name} value but {name} is not installed on this side; "
            f"install it (pip install {'pillow' if name == 'PIL.Image' else name})"
        ) from None


def _dec_dtype(np: Any, spec: Any, allow_pickle: bool) -> Any:
    if type(spec) is str:
        if not _DTYPE_RE.fullmatch(spec):
            raise _bad(f"invalid dtype {spec[:30]!r}")
        dtype = np.dtype(spec)
    elif type(spec) is list and spec:
        fields = []
        for field in spec:
            if type(field) is not list or len(field) != 2 or type(field[0]) is not str:
                raise _bad("a structured dtype must be a list of [name, dtype] pairs")
            fields.append((field[0], _dec_dtype(np, field[1], allow_pickle)))
        dtype = np.dtype(fields)
    else:
        raise _bad("a dtype must be a string like '<f8' or a list of fields")
    if dtype.hasobject and not allow_pickle:
        raise ValueCodecError("The payload holds an object-dtype array, which is refused (it holds pointers)")
    return dtype


def _dec_ndarray(dec: _Decoder, p: dict, depth: int) -> Any:
    np = _library("numpy")
    shape = _field(p, "shape", list, ("dtype", "v"))
    if len(shape) > _MAX_NDIM or any(type(n) is not int or n < 0 for n in shape):
        raise _bad(f"an array shape must be at most {_MAX_NDIM} non-negative integers")
    dtype = _dec_dtype(np, p.get("dtype"), False)
    data = _unb64(_field(p, "v", str, ("dtype", "shape")))
    count = math.prod(shape)
    if dtype.itemsize == 0:
        if data or count > 1 << 31:
            raise _bad("a zero-size dtype with data or too many elements")
        return np.zeros(shape, dtype)
    if len(data) != count * dtype.itemsize:
        raise _bad(f"array data of {len(data)} bytes does not match shape {shape} of {dtype.str}")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def _dec_npscalar(dec: _Decoder, p: dict, depth: int) -> Any:
    np = _library("numpy")
    dtype = _dec_dtype(np, p.get("dtype"), False)
    data = _unb64(_field(p, "v", str, ("dtype",)))
    if len(data) != dtype.itemsize or dtype.itemsize == 0:
        raise _bad(f"scalar data of {len(data)} bytes for dtype {dtype.str}")
    return np.frombuffer(data, dtype=dtype)[0]


def _dec_column(dec: _Decoder, pd: Any, column: Any, depth: int) -> Any:
    if type(column) is not dict:
        raise _bad("a pandas column must be an object")
    kind = column.get("kind")
    if kind == "array" and set(column) == {"kind", "v"}:
        array = dec.decode(column["v"], depth)
        if type(array).__name__ != "ndarray" or array.ndim != 1:
            raise _bad("an array column must hold a one-dimensional ndarray")
        return array
    if kind == "category" and set(column) == {"kind", "categories", "codes", "ordered"}:
        categories, codes = dec.decode(column["categories"], depth), dec.decode(column["codes"], depth)
        if not isinstance(categories, pd.Index) or type(codes).__name__ != "ndarray" or codes.ndim != 1:
            raise _bad("a category column needs an index of categories and 1-d codes")
        if codes.size and not (codes.min() >= -1 and codes.max() < len(categories)):
            raise _bad("category codes out of range")
        return pd.Categorical.from_codes(codes, categories=categories, ordered=column["ordered"] is True)
    if kind == "values" and set(column) == {"kind", "dtype", "v"} and type(column["v"]) is list:
        name = column["dtype"]
        if type(name) is not str or len(name) > 100:
            raise _bad("a values column needs a dtype name")
        items = [dec.decode(item, depth) for item in column["v"]]
        if name == "object":
            return pd.array(items, dtype=object) if items else pd.array([], dtype=object)
        dtype = pd.api.types.pandas_dtype(name)
        if getattr(dtype, "hasobject", False):
            raise _bad(f"dtype {name!r} cannot be rebuilt from values")
        return pd.array(items, dtype=dtype)
    raise _bad("a pandas column must be {'kind': 'array'|'category'|'values', ...}")


def _dec_index(dec: _Decoder, p: dict, depth: int) -> Any:
    pd = _library("pandas")
    tag = p[_TAG]
    if tag == "rangeindex":
        start, stop, step = _ints(_field(p, "v", list, ("name",)), 3, "a range index")
        return pd.RangeIndex(start, stop, step or 1, name=dec.decode(p.get("name"), depth))
    if tag == "multiindex":
        items = dec.items(p, depth, ("names",))
        names = [dec.decode(name, depth) for name in _field(p, "names", list, ("v",))]
        if not names or any(type(item) is not tuple or len(item) != len(names) for item in items):
            raise _bad("a multi-index must be tuples as long as its names")
        return pd.MultiIndex.from_tuples(items, names=names)
    column = _dec_column(dec, pd, _field(p, "values", dict, ("name",)), depth)
    return pd.Index(column, name=dec.decode(p.get("name"), depth), tupleize_cols=False)


def _dec_series(dec: _Decoder, p: dict, depth: int) -> Any:
    pd = _library("pandas")
    index = dec.decode(_field(p, "index", dict, ("name", "values")), depth)
    values = _dec_column(dec, pd, _field(p, "values", dict, ("name", "index")), depth)
    if not isinstance(index, pd.Index) or len(index) != len(values):
        raise _bad("a series needs an index as long as its values")
    return pd.Series(values, index=index, name=dec.decode(p.get("name"), depth), copy=False)


def _dec_dataframe(dec: _Decoder, p: dict, depth: int) -> Any:
    pd = _library("pandas")
    index = dec.decode(_field(p, "index", dict, ("columns", "data")), depth)
    columns = dec.decode(_field(p, "columns", dict, ("index", "data")), depth)
    data = [_dec_column(dec, pd, column, depth) for column in _field(p, "data", list, ("index", "columns"))]
    if not isinstance(index, pd.Index) or not isinstance(columns, pd.Index) or len(columns) != len(data):
        raise _bad("a data frame needs an index, and one column of data per column label")
    if any(len(column) != len(index) for column in data):
        raise _bad("every data frame column must be as long as the index")
    frame = pd.DataFrame({i: column for i, column in enumerate(data)}, index=index)
    if not data:
        return pd.DataFrame(index=index, columns=columns)
    frame.columns = columns
    return frame


def _dec_image(dec: _Decoder, p: dict, depth: int) -> Any:
    image_module = _library("PIL.Image")
    kind = p.get("format")
    if kind == "png":
        data = _unb64(_field(p, "v", str, ("format",)))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", image_module.DecompressionBombWarning)
                image = image_module.open(io.BytesIO(data), formats=["PNG"])
                image.load()
        except Exception as error:
            raise _bad(f"invalid PNG image: {type(error).__name__}: {str(error)[:200]}") from None
        return image
    if kind == "raw":
        mode = _field(p, "mode", str, ("format", "size", "v"))
        size = _ints(p.get("size"), 2, "an image size")
        if size[0] < 0 or size[1] < 0 or size[0] * size[1] > image_module.MAX_IMAGE_PIXELS:
            raise _bad(f"image size {size} is out of bounds")
        return image_module.frombytes(mode, tuple(size), _unb64(p.get("v", "")))
    raise _bad("an image must have format 'png' or 'raw'")


_DECODERS: dict[str, Any] = {
    "int": _dec_int,
    "float": _dec_float,
    "tuple": _dec_tuple,
    "set": _dec_set,
    "frozenset": _dec_set,
    "dict": _dec_dict,
    "bytes": _dec_bytes,
    "bytearray": _dec_bytes,
    "datetime": _dec_datetime,
    "date": _dec_date,
    "time": _dec_time,
    "timedelta": _dec_timedelta,
    "decimal": _dec_decimal,
    "fraction": _dec_fraction,
    "complex": _dec_complex,
    "pickle": _dec_pickle,
    "ndarray": _dec_ndarray,
    "npscalar": _dec_npscalar,
    "index": _dec_index,
    "rangeindex": _dec_index,
    "multiindex": _dec_index,
    "series": _dec_series,
    "dataframe": _dec_dataframe,
    "image": _dec_image,
}


def decode_value(payload: Any, *, allow_pickle: bool = False) -> Any:
    """The value ``payload`` (an ``encode_value`` tree) stands for; never runs code unless
    ``allow_pickle`` is true. A malformed or hostile payload raises ``ValueCodecError``."""
    try:
        return _Decoder(allow_pickle).decode(payload, 0)
    except RecursionError:
        raise ValueCodecError("Encoded value nested too deeply; refusing it") from None
    except MemoryError:
        raise ValueCodecError("Encoded value too large to rebuild in memory; refusing it") from None


def _no_constant(name: str) -> Any:
    raise ValueCodecError(f"Malformed encoded value: bare {name} in JSON (non-finite floats travel tagged)")


def loads(text: str | bytes, *, allow_pickle: bool = False) -> Any:
    """Decode JSON text made by ``dumps``; malformed text raises ``ValueCodecError``."""
    try:
        payload = json.loads(text, parse_constant=_no_constant)
    except RecursionError:
        raise ValueCodecError("Encoded value nested too deeply; refusing it") from None
    except ValueCodecError:
        raise
    except ValueError as error:  # JSONDecodeError, UnicodeDecodeError, int digit limits
        raise ValueCodecError(f"Malformed encoded value: not valid JSON ({str(error)[:200]})") from None
    return decode_value(payload, allow_pickle=allow_pickle)
