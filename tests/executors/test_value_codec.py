"""The typed value codec: every supported type round-trips, hostile payloads are refused,
pickle needs an explicit opt-in (with a warning), and the module runs standalone."""

from __future__ import annotations

import datetime as dt
import decimal
import fractions
import inspect
import json
import math
import subprocess
import sys
import warnings
import zoneinfo
from collections import namedtuple
from typing import Any

import numpy as np
import pandas as pd
import pytest
from PIL import Image

import smolagents._value_codec as codec
from smolagents._value_codec import ValueCodecError, decode_value, dumps, encode_value, loads

SCALARS: list[Any] = [
    0,
    -1,
    2**62,
    2**200,
    -(3**90),
    1.5,
    -0.0,
    float("inf"),
    float("-inf"),
    True,
    False,
    None,
    "",
    "héllo \u2603 \ud800",
    b"\x00\xff",
    bytearray(b"ab"),
    dt.datetime(2024, 1, 2, 3, 4, 5, 6),
    dt.datetime(2024, 1, 2, tzinfo=dt.timezone(dt.timedelta(hours=-5))),
    dt.datetime(2024, 11, 3, 1, 30, fold=1, tzinfo=zoneinfo.ZoneInfo("America/New_York")),
    dt.date(2020, 2, 29),
    dt.time(1, 2, 3, 4),
    dt.time(1, 2, tzinfo=dt.timezone.utc),
    dt.timedelta(days=-3, seconds=5, microseconds=7),
    decimal.Decimal("1.10"),
    decimal.Decimal("-Infinity"),
    fractions.Fraction(3, 7),
    complex(1, -2),
]
CONTAINERS: list[Any] = [
    [1, [2, [3]]],
    (1, (2,), ()),
    {"a": 1, "b": [2]},
    {1: "int key", (1, "t"): "tuple key", None: 0, 2.5: "float", frozenset({1}): "fs"},
    {"$t": "a user's key that looks like a tag"},
    {1, 2, "x", (3, 4)},
    frozenset({"a", b"b"}),
    [],
    {},
    set(),
]


def same(a: Any, b: Any) -> bool:
    """Equal, of the same type, all the way down (so 1 == 1.0 == True do not pass)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, (set, frozenset)):  # iteration order follows string hashing: compare as sets
        return a == b and sorted(map(repr, a)) == sorted(map(repr, b))
    return a == b and repr(a) == repr(b)


@pytest.mark.parametrize("value", SCALARS + CONTAINERS, ids=lambda v: type(v).__name__)
def test_round_trip_keeps_value_and_type(value: Any) -> None:
    assert same(loads(dumps(value)), value)
    assert same(decode_value(encode_value(value)), value)


def test_nan_and_complex_nan_round_trip() -> None:
    assert math.isnan(loads(dumps(float("nan"))))
    back = loads(dumps(complex(float("nan"), 1.0)))
    assert math.isnan(back.real) and back.imag == 1.0
    assert loads(dumps(decimal.Decimal("NaN"))).is_nan()


def test_encoded_tree_is_plain_json_and_text_is_ascii() -> None:
    value = {"k": (1, b"x", {2, 3}), 4: float("nan"), "s": "\u2603"}
    tree = encode_value(value)
    assert json.loads(json.dumps(tree, allow_nan=False)) == tree
    assert dumps(value).isascii()


def test_subclasses_travel_as_their_base_type_without_running_overrides() -> None:
    class Loud(str):
        def __str__(self) -> str:
            raise AssertionError("override ran")

    Point = namedtuple("Point", "x y")
    assert same(loads(dumps(Loud("hi"))), "hi")
    assert same(loads(dumps(Point(1, 2))), (1, 2))


@pytest.mark.parametrize(
    "array",
    [
        np.arange(12, dtype=np.int16).reshape(3, 4),
        np.array([1.5, np.nan, -np.inf]),
        np.array([True, False]),
        np.array(["ab", "c"]),
        np.array([b"x"]),
        np.array(["2020-01-01"], dtype="datetime64[ns]"),
        np.array([1 + 2j], dtype=np.complex64),
        np.zeros((0, 3)),
        np.array(7.0),
        np.asfortranarray(np.arange(6).reshape(2, 3)),
        np.arange(10)[::3],
        np.array([(1, 2.0)], dtype=[("a", "<i4"), ("b", "<f8")]),
        np.array([1, 2], dtype=">u4"),
    ],
    ids=lambda a: a.dtype.str,
)
def test_numpy_arrays_round_trip_with_dtype_and_shape(array: np.ndarray) -> None:
    back = loads(dumps(array))
    assert isinstance(back, np.ndarray) and back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")
    assert back.flags.writeable


@pytest.mark.parametrize(
    "scalar", [np.float32(1.5), np.int64(-7), np.bool_(True), np.datetime64("2020-01-01")]
)
def test_numpy_scalars_round_trip(scalar: Any) -> None:
    back = loads(dumps(scalar))
    assert type(back) is type(scalar) and back == scalar


def test_object_arrays_need_allow_pickle() -> None:
    array = np.array([{"a": 1}, None], dtype=object)
    with pytest.raises(ValueCodecError, match="object arrays"):
        dumps(array)
    with pytest.warns(UserWarning, match="Pickling"):
        text = dumps(array, allow_pickle=True)
    with pytest.raises(ValueCodecError, match="pickle"):
        loads(text)
    with pytest.warns(UserWarning, match="Unpickling"):
        back = loads(text, allow_pickle=True)
    assert back.dtype == object and back[0] == {"a": 1}


def test_dataframe_round_trips_with_dtypes_and_index() -> None:
    frame = pd.DataFrame(
        {
            "a": [1, 2, 3],
            "b": ["x", "y", None],
            "c": pd.Categorical(["u", "v", "u"], ordered=True),
            "d": pd.array([1, None, 3], dtype="Int64"),
            "e": pd.date_range("2020", periods=3, tz="UTC"),
            "f": [1.5, np.nan, 2.0],
            "g": pd.to_datetime(["2020-01-01", "2021-01-01", None]),
            "h": [{"nested": 1}, [1, 2], (3,)],
            7: [True, False, True],
        },
        index=pd.Index([10, 20, 30], name="idx"),
    )
    back = loads(dumps(frame))
    pd.testing.assert_frame_equal(back, frame)
    assert back["h"].iloc[2] == (3,)


def test_series_and_indexes_round_trip() -> None:
    series = pd.Series(
        [1.0, 2.0], index=pd.MultiIndex.from_tuples([("a", 1), ("b", 2)], names=["k", "n"]), name="s"
    )
    pd.testing.assert_series_equal(loads(dumps(series)), series)
    for index in (pd.RangeIndex(2, 20, 3, name="r"), pd.Index(["a", "b"]), pd.date_range("2021", periods=2)):
        back = loads(dumps(index))
        assert back.equals(index) and (back.dtype, back.name, type(back)) == (
            index.dtype,
            index.name,
            type(index),
        )
    for frame in (pd.DataFrame([[1, 2]], columns=["a", "a"]), pd.DataFrame(index=[1, 2])):
        pd.testing.assert_frame_equal(loads(dumps(frame)), frame)


@pytest.mark.parametrize("mode", ["RGB", "RGBA", "L", "1", "P", "I;16", "CMYK", "F"])
def test_pil_images_round_trip(mode: str) -> None:
    image = Image.new(mode, (5, 3))
    image.putpixel((1, 1), 200 if mode not in ("RGB", "RGBA", "CMYK") else (1, 2, 3, 4)[: len(mode)])
    back = loads(dumps(image))
    assert isinstance(back, Image.Image)
    assert (back.mode, back.size) == (image.mode, image.size)
    if mode == "P":  # PNG may renumber the palette; the picture stays the same
        back, image = back.convert("RGB"), image.convert("RGB")
    assert back.tobytes() == image.tobytes()


def test_pngs_travel_as_png() -> None:
    tree = encode_value(Image.new("RGB", (2, 2)))
    assert tree["$t"] == "image" and tree["format"] == "png"


class Opaque:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, Opaque)

    __hash__ = object.__hash__


def test_unknown_types_name_the_type_and_how_to_fix() -> None:
    with pytest.raises(ValueCodecError) as info:
        dumps({"x": [Opaque()]})
    message = str(info.value)
    assert "Opaque" in message and "Convert it" in message and "allow_pickle=True" in message


def test_pickle_only_with_allow_pickle_and_a_warning() -> None:
    with pytest.warns(UserWarning, match="Pickling a value of type .*Opaque"):
        text = dumps(Opaque(), allow_pickle=True)
    with pytest.raises(ValueCodecError, match="contains a pickle, which is refused"):
        loads(text)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        assert loads(text, allow_pickle=True) == Opaque()
    assert any("Unpickling" in str(w.message) for w in caught)


def test_cycles_and_excessive_depth_are_refused_when_encoding() -> None:
    loop: list[Any] = []
    loop.append(loop)
    with pytest.raises(ValueCodecError, match="deeper than"):
        dumps(loop)
    deep: Any = 0
    for _ in range(codec.MAX_DEPTH + 5):
        deep = (deep,)
    with pytest.raises(ValueCodecError, match="deeper than"):
        dumps(deep)


def test_exponentially_shared_structures_are_refused_when_encoding(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(codec, "MAX_NODES", 10_000)
    shared: list[Any] = []
    for _ in range(40):
        shared = [shared, shared]
    with pytest.raises(ValueCodecError, match="more than 10000 parts"):
        dumps(shared)


HOSTILE = {
    "unknown tag": '{"$t": "os.system", "v": "touch /tmp/x"}',
    "pickle tag": '{"$t": "pickle", "v": "gASVAAAAAAAAAAA="}',
    "missing field": '{"$t": "tuple"}',
    "wrong field type": '{"$t": "tuple", "v": 1}',
    "extra field": '{"$t": "tuple", "v": [], "code": "x"}',
    "tag not a string": '{"$t": ["tuple"], "v": []}',
    "bad int literal": '{"$t": "int", "v": "__import__(\'os\')"}',
    "bad float": '{"$t": "float", "v": "1e999999"}',
    "bare NaN": "[NaN]",
    "not json": "{'a': 1}",
    "bad base64": '{"$t": "bytes", "v": "!!!"}',
    "object dtype": '{"$t": "ndarray", "dtype": "|O", "shape": [1], "v": "AAAAAAAAAAA="}',
    "object field": '{"$t": "ndarray", "dtype": [["a", "|O"]], "shape": [1], "v": "AAAAAAAAAAA="}',
    "dtype string": '{"$t": "ndarray", "dtype": "[(\'a\', \'O\')]", "shape": [1], "v": ""}',
    "shape vs data": '{"$t": "ndarray", "dtype": "<f8", "shape": [100000000, 100000000], "v": ""}',
    "negative shape": '{"$t": "ndarray", "dtype": "<f8", "shape": [-1], "v": ""}',
    "unhashable set member": '{"$t": "set", "v": [[1]]}',
    "unhashable key": '{"$t": "dict", "v": [[[1], 2]]}',
    "bad pair": '{"$t": "dict", "v": [[1, 2, 3]]}',
    "time zone path": '{"$t": "datetime", "v": "2020-01-01T00:00:00", "zone": "../../etc/passwd"}',
    "bad iso": '{"$t": "date", "v": "yesterday"}',
    "bad png": '{"$t": "image", "format": "png", "v": "AAAA"}',
    "series length": '{"$t": "series", "name": null, "index": {"$t": "rangeindex", "v": [0, 5, 1], "name": null},'
    ' "values": {"kind": "values", "dtype": "object", "v": [1]}}',
    "category codes": '{"$t": "series", "name": null, "index": {"$t": "rangeindex", "v": [0, 1, 1], "name": null},'
    ' "values": {"kind": "category", "categories": {"$t": "index", "name": null, "values": {"kind": "values",'
    ' "dtype": "object", "v": ["a"]}}, "codes": {"$t": "ndarray", "dtype": "|i1", "shape": [1], "v": "BQ=="},'
    ' "ordered": false}}',
}


@pytest.mark.parametrize("text", list(HOSTILE.values()), ids=list(HOSTILE))
def test_hostile_payloads_are_refused_with_a_clear_error(text: str) -> None:
    with pytest.raises(ValueCodecError, match=r"Malformed|refused|refusing"):
        loads(text)


def test_hash_flooding_sets_are_refused() -> None:
    # every multiple of 2**61 - 1 hashes to 0 on 64-bit CPython: inserting them is quadratic
    members = [{"$t": "int", "v": hex(i * (2**61 - 1))} for i in range(1, 500)]
    with pytest.raises(ValueCodecError, match="hash flooding"):
        decode_value({"$t": "set", "v": members})


def test_deep_payloads_are_refused_not_crashing() -> None:
    with pytest.raises(ValueCodecError, match=r"deeply|deeper"):
        loads("[" * 200_000 + "]" * 200_000)
    nested: Any = 1
    for _ in range(codec.MAX_DEPTH + 2):
        nested = {"$t": "tuple", "v": [nested]}
    with pytest.raises(ValueCodecError, match="deeper than"):
        decode_value(nested)


def test_decoding_never_accepts_python_objects_in_the_tree() -> None:
    with pytest.raises(ValueCodecError, match="only JSON types"):
        decode_value([Opaque()])


def test_module_source_runs_standalone_in_a_fresh_interpreter() -> None:
    source = inspect.getsource(codec)
    program = (
        f"SOURCE = {source!r}\n"
        "import sys\n"
        "ns = {'__name__': 'remote_codec'}\n"
        "exec(compile(SOURCE, 'remote_codec', 'exec'), ns)\n"
        "assert 'smolagents' not in sys.modules, 'the codec imported smolagents'\n"
        "assert 'numpy' not in sys.modules and 'pandas' not in sys.modules, 'eager optional imports'\n"
        "value = ns['loads'](sys.stdin.read())\n"
        "print(ns['dumps']({'got': value, 'numpy': 'numpy' in sys.modules}))\n"
    )
    sent = {"t": (1, 2**100, b"\x01"), 3: {1.5, None}, "when": dt.date(2020, 1, 1), "arr": np.arange(3)}
    done = subprocess.run(
        [sys.executable, "-I", "-c", program], input=dumps(sent), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    back = loads(done.stdout)
    assert back["numpy"] is True  # imported lazily, because the payload held an array
    got = back["got"]
    assert np.array_equal(got.pop("arr"), np.arange(3))
    sent.pop("arr")
    assert same(got, sent)
