"""Security: numpy raw memory, pandas dispatch by method name, numpy/pandas host state.

Raw-memory payloads can segfault the interpreter when they are not refused, so they run
in one subprocess (a regression fails the test instead of killing pytest). Dispatch and
host-state payloads run in-process with the ``attack`` fixture and state snapshots.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from typing import Any

import numpy as np
import pandas as pd
import pytest

from smolagents.errors import InterpreterError, SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(60)

# ---------------------------------------------------------------------- raw memory
FORGE = "b = bytearray(id(print).to_bytes(8, 'little'))\n"
MEMORY = {
    "ndarray_object_over_bytes": FORGE + "a = np.ndarray((1,), dtype=object, buffer=b)\na[0]",
    "ndarray_structured_object": FORGE + "np.ndarray((1,), dtype=[('f', 'O')], buffer=b)[0]",
    "type_of_array_object": FORGE + "T = type(np.zeros(1))\nT((1,), dtype=object, buffer=b)[0]",
    "ndarray_negative_offset": "np.ndarray((64,), dtype='u1', buffer=bytearray(8), offset=-4096).tolist()",
    "recarray_object": FORGE + "np.recarray((1,), dtype=[('a', object)], buf=b)[0]",
    "chararray_negative_offset": "np.char.chararray((8,), buffer=bytearray(8), offset=-4096).tobytes()",
    "rec_fromstring_object": FORGE + "np.rec.fromstring(bytes(b), dtype=[('a', 'O')])[0]",
    "rec_fromstring_negative": "np.rec.fromstring(bytes(8), dtype='u1', shape=64, offset=-4096).tolist()",
    "as_strided_out_of_bounds": "from numpy.lib.stride_tricks import as_strided\n"
    "as_strided(np.zeros(1), shape=(10**6,), strides=(8,)).sum()",
    "as_strided_via_np_lib": "np.lib.stride_tricks.as_strided(np.zeros(2), shape=(2,), strides=(-10**6,)).sum()",
    "as_strided_object_misaligned": "from numpy.lib.stride_tricks import as_strided\n"
    "as_strided(np.array([None, None], dtype=object), shape=(2,), strides=(4,))[1]",
    "array_interface_via_getattr": textwrap.dedent(
        """
        class X:
            def __getattr__(self, name):
                if name == '__array_interface__':
                    return {'data': (id(print), False), 'shape': (1,), 'typestr': '|O', 'version': 3}
                raise AttributeError(name)
        r = np.asarray(X())
        r.dtype == object and r.shape == (1,) and r[0] is print
        """
    ),
    "array_interface_via_ufunc": textwrap.dedent(
        """
        class X:
            def __getattr__(self, name):
                return {'data': (id(1), True), 'shape': (64,), 'typestr': '|u1', 'version': 3}
        np.add(X(), 0).shape == (64,)
        """
    ),
    "resize_refcheck_false": "a = np.arange(4)\nv = a[:]\na.resize(10**6, refcheck=False)\nv.sum()",
    "resize_unbound_refcheck_false": "a = np.arange(4)\nnp.ndarray.resize(a, 10**6, refcheck=False)",
    "setflags_on_bytes": "a = np.frombuffer(b'immutable', dtype='u1')\na.setflags(write=True)\na[0] = 0",
    "subclass_ndarray": FORGE + "class Y(np.ndarray):\n    pass\nY((1,), dtype=object, buffer=b)[0]",
    "subclass_type_of_array": "class Y(type(np.zeros(1))):\n    pass",
    "view_object_over_ints": "np.array([id(print)]).view(object)[0]",
    "dtype_assign_object": "a = np.array([id(print)])\na.dtype = object\na[0]",
    "strides_assign_out_of_bounds": "a = np.arange(4)\na.strides = (10**6,)\na.sum()",
    # a protocol dunder named by a *string*: host class factories and ** keyword unpacking
    "interface_via_make_dataclass": "import dataclasses\n"
    "X = dataclasses.make_dataclass('X', [('__array_interface__', dict)])\n"
    "np.asarray(X({'data': (id(print), False), 'shape': (1,), 'typestr': '|O', 'version': 3}))[0]",
    "interface_via_make_dataclass_namespace": "import dataclasses\n"
    "X = dataclasses.make_dataclass('X', ['a'], namespace={'__array_interface__': {}})",
    "interface_via_enum_functional": "import enum\n"
    "E = enum.Enum('E', [('A', 1), ('__array_interface__', {'data': (id(print), False), 'shape': (1,), "
    "'typestr': '|O', 'version': 3})])\nnp.asarray(E.A)[0]",
    "interface_via_metaclass_call": "import abc\n"
    "X = abc.ABCMeta('X', (), {'__array_interface__': {'data': (id(print), False), 'shape': (1,), "
    "'typestr': '|O', 'version': 3}})\nnp.asarray(X())[0]",
    "interface_via_type_of_enum": "import enum\nclass C(enum.Enum):\n    A = 1\n"
    "type(C)('X', (), {'__array_interface__': {}})",
    "interface_via_kwargs_unpacking": "import argparse\n"
    "ns = argparse.Namespace(**{'__array_interface__': {'data': (id(print), False), 'shape': (1,), "
    "'typestr': '|O', 'version': 3}})\nnp.asarray(ns)[0]",
}
#: payloads that numpy itself refuses (the test pins that behaviour down)
NUMPY_NATIVE = {"view_object_over_ints", "dtype_assign_object", "strides_assign_out_of_bounds"}
#: payloads that run but no longer reach memory: the object is not an array interface
NEUTRALISED = {"array_interface_via_getattr", "array_interface_via_ufunc"}

_RUNNER = r"""
import json, sys
from smolagents.errors import SandboxSecurityError
from smolagents.local_python_executor import LocalPythonExecutor
payloads = json.loads(sys.stdin.read())
for name, code in payloads.items():
    executor = LocalPythonExecutor(["numpy.*", "dataclasses", "enum", "abc", "argparse"], timeout_seconds=5)
    try:
        out = executor("import numpy as np\n" + code)
        result = "RAN: " + repr(out.output)[:200]
    except SandboxSecurityError as error:
        result = "SECURITY: " + str(error)
    except Exception as error:
        result = type(error).__name__ + ": " + str(error)
    assert executor("1 + 1").output == 2
    print(json.dumps([name, result]), flush=True)
"""


@pytest.fixture(scope="module")
def memory_results() -> dict[str, str]:
    process = subprocess.run(
        [sys.executable, "-c", _RUNNER],
        input=json.dumps(MEMORY),
        capture_output=True,
        text=True,
        timeout=50,
    )
    results = dict(json.loads(line) for line in process.stdout.splitlines() if line.startswith("["))
    if process.returncode:
        results["__crash__"] = f"rc={process.returncode}: {process.stderr[-2000:]}"
    return results


@pytest.mark.parametrize("name", sorted(MEMORY))
def test_numpy_raw_memory_refused(memory_results: dict[str, str], name: str) -> None:
    result = memory_results.get(name)
    assert result is not None, (
        f"the sandbox process died before this payload: {memory_results.get('__crash__')}"
    )
    if name in NUMPY_NATIVE:
        assert not result.startswith("RAN"), result
    elif name.startswith("subclass"):
        assert "Subclassing numpy array classes" in result, result
    elif name in NEUTRALISED:
        assert result in ("RAN: False",) or not result.startswith("RAN"), result
    else:
        assert result.startswith("SECURITY"), result
    if name in ("ndarray_object_over_bytes", "as_strided_out_of_bounds", "rec_fromstring_object"):
        assert "memory the sandbox does not own" in result and "process executor" in result


def test_array_interface_getattr_message() -> None:
    executor = LocalPythonExecutor(["numpy"], timeout_seconds=5)
    code = textwrap.dedent(
        """
        import numpy as np
        class X:
            def __getattr__(self, name):
                return 7
        x = X()
        (x.anything, np.asarray(x).dtype == object, np.asarray(x).shape)
        """
    )
    assert executor(code).output == (7, True, ())


# ---------------------------------------------------------------------- dispatch by name
DISPATCH = {
    "agg_list_to_csv": "df.agg(['to_csv'])",
    "apply_to_pickle": "df.apply('to_pickle', path='SENTINEL')",
    "apply_func_keyword": "df.apply(func='to_pickle', path='SENTINEL')",
    "apply_query": "df.apply('query', expr='a > 0')",
    "agg_apply_nested": "df.agg('apply', 'to_pickle', path='SENTINEL')",
    "agg_dict_to_pickle": "df.agg({'a': 'to_pickle'})",
    "named_aggregation": "df.groupby('a').agg(x=('b', 'to_csv'))",
    "series_apply_to_pickle": "df['a'].apply('to_pickle', path='SENTINEL')",
    "series_transform": "df['a'].transform(['to_json'])",
    "groupby_apply_name": "df.groupby('a').apply('to_pickle', 'SENTINEL')",
    "rolling_agg": "df.rolling(1).agg('to_csv')",
    "unbound_apply": "pd.DataFrame.apply(df, 'to_pickle', path='SENTINEL')",
    "getattr_apply": "getattr(df, 'apply')('to_pickle', path='SENTINEL')",
    "private_name": "df.apply('_repr_html_')",
    "numpy_name_fallback": "df['a'].agg('save', 'SENTINEL')",
    "eval_name": "df.apply('eval', expr='a + 1')",
    "show_versions_writes": "pd.show_versions(as_json='SENTINEL')",
    "style_templates": "df.style.to_html('SENTINEL')",
    "plot_backend_import": "df.plot(backend='antigravity')",
    "hist_backend_import": "df.hist(backend='antigravity')",
    "plotting_backend_option": "pd.set_option('plotting.backend', 'antigravity')",
    "plotting_backend_attribute": "pd.options.plotting.backend = 'antigravity'",
    "plotting_backend_context": "with pd.option_context('plotting.backend', 'antigravity'):\n    pass",
}


@pytest.mark.parametrize("code", list(DISPATCH.values()), ids=list(DISPATCH))
def test_pandas_dispatch_by_name_refused(attack, code: str) -> None:
    prelude = "import pandas as pd\ndf = pd.DataFrame({'a': [1, 2], 'b': [3, 4]})\n"
    error = attack(prelude + code, executor=LocalPythonExecutor(["pandas", "numpy"], timeout_seconds=5))
    assert isinstance(error, SandboxSecurityError), error
    assert "antigravity" not in sys.modules


def test_dispatch_refusal_messages() -> None:
    executor = LocalPythonExecutor(["pandas"], timeout_seconds=5)
    executor("import pandas as pd\ndf = pd.DataFrame({'a': [1, 2]})")
    with pytest.raises(SandboxSecurityError, match="call it directly"):
        executor("df.agg(['to_csv'])")
    with pytest.raises(SandboxSecurityError, match="allow_data_io"):
        executor("df.style")
    with pytest.raises(SandboxSecurityError, match=r"add 'matplotlib'"):
        executor("df.plot()")


def test_dispatch_on_sandbox_subclass_of_dataframe(attack) -> None:
    code = (
        "import pandas as pd\nclass D(pd.DataFrame):\n    pass\n"
        "D({'a': [1]}).agg('apply', 'to_pickle', path='SENTINEL')"
    )
    attack(code, executor=LocalPythonExecutor(["pandas"], timeout_seconds=5))


def test_data_io_on_sandbox_subclass_of_dataframe(attack) -> None:
    code = "import pandas as pd\nclass D(pd.DataFrame):\n    pass\nD({'a': [1]}).to_csv('SENTINEL')"
    attack(code, executor=LocalPythonExecutor(["pandas"], timeout_seconds=5))


# ---------------------------------------------------------------------- host state
def attributes(obj: Any) -> dict[str, Any]:
    names = set(getattr(obj, "__dict__", {}))
    for klass in type(obj).__mro__:
        slots = klass.__dict__.get("__slots__", ())
        names.update([slots] if isinstance(slots, str) else slots)
    return {name: getattr(obj, name, None) for name in sorted(names)}


def host_state() -> dict[str, Any]:
    state = {
        "err": np.geterr(),
        "print": np.get_printoptions(),
        "random": [*np.random.get_state()[1].tolist()[:8], np.random.get_state()[2]],
        "r_": attributes(np.r_),
        "c_": attributes(np.c_),
        "s_": attributes(np.s_),
        "index_exp": attributes(np.index_exp),
        "mgrid": attributes(np.mgrid),
        "ogrid": attributes(np.ogrid),
        "ma_print": str(np.ma.masked_print_option),
        "max_rows": pd.get_option("display.max_rows"),
        "precision": pd.get_option("display.precision"),
        "backend": pd.get_option("plotting.backend"),
    }
    return state


HOST_STATE = {
    "seterr": "np.seterr(all='raise')",
    "errstate_in_suspended_generator": (
        "def g():\n    with np.errstate(all='raise'):\n        yield 1\nkeep = g()\nnext(keep)"
    ),
    "printoptions_in_suspended_generator": (
        "def g():\n    with np.printoptions(precision=1):\n        yield 1\nkeep = g()\nnext(keep)"
    ),
    "random_seed": "np.random.seed(0)",
    "random_set_state": "np.random.set_state(np.random.RandomState(5).get_state())",
    "random_consumed_by_pandas": "pd.DataFrame({'a': range(50)}).sample(5)",
    "index_tricks": (
        "np.r_.matrix = True\nnp.c_.axis = 0\nnp.s_.maketuple = True\nnp.index_exp.maketuple = False\n"
        "np.mgrid.sparse = True\nnp.ogrid.sparse = False"
    ),
    "masked_print_option": "np.ma.masked_print_option.set_display('PWNED')",
    "pandas_set_option": "pd.set_option('display.max_rows', 3)\npd.set_option('precision', 1)",
    "pandas_options_attribute": "pd.options.display.max_rows = 3",
    "pandas_option_context_suspended": (
        "def g():\n    with pd.option_context('display.max_rows', 3):\n        yield 1\nkeep = g()\nnext(keep)"
    ),
    "pandas_reset_option": "pd.reset_option('all')",
    "pandas_set_option_dict": "pd.set_option({'display.max_rows': 4})",
}


@pytest.mark.parametrize("code", list(HOST_STATE.values()), ids=list(HOST_STATE))
def test_host_state_identical_after_call(code: str) -> None:
    pd.set_option("display.max_rows", 61)  # not the default, so reset_option is seen too
    try:
        before = host_state()
        executor = LocalPythonExecutor(["numpy.*", "pandas"], timeout_seconds=5)
        try:
            executor("import numpy as np\nimport pandas as pd\n" + code)
        except InterpreterError:
            pass
        assert host_state() == before
        assert executor("1 + 1").output == 2
        assert host_state() == before
    finally:
        pd.reset_option("display.max_rows")


def test_executor_keeps_its_own_state_between_calls() -> None:
    host_rows = pd.get_option("display.max_rows")
    first = LocalPythonExecutor(["numpy.*", "pandas"], timeout_seconds=5)
    second = LocalPythonExecutor(["numpy.*", "pandas"], timeout_seconds=5)
    first("import numpy as np\nimport pandas as pd\npd.set_option('display.max_rows', 7)\nnp.random.seed(42)")
    second("import numpy as np\nimport pandas as pd\nnp.random.seed(1)")
    assert pd.get_option("display.max_rows") == host_rows
    assert first("pd.get_option('display.max_rows')").output == 7
    assert second("pd.get_option('display.max_rows')").output == host_rows
    assert first("np.random.rand()").output == np.random.RandomState(42).rand()
    assert first("np.r_.matrix = True\nnp.r_.matrix").output is True
    assert second("np.r_.matrix").output is False


def test_set_bit_generator_refused() -> None:
    executor = LocalPythonExecutor(["numpy.*"], timeout_seconds=5)
    with pytest.raises(SandboxSecurityError, match="default_rng"):
        executor("import numpy as np\nnp.random.set_bit_generator(np.random.PCG64(1))")


# ---------------------------------------------------------------------- ordinary use
def test_ordinary_pandas_work() -> None:
    executor = LocalPythonExecutor(["pandas", "numpy"], timeout_seconds=20)
    code = textwrap.dedent(
        """
        import numpy as np
        import pandas as pd
        df = pd.DataFrame({'k': ['a', 'b', 'a', 'b'], 'v': [1.0, 2.0, 3.0, 4.0], 'w': [4, 3, 2, 1]})
        g = df.groupby('k')
        out = {
            'sum': g['v'].agg('sum').tolist(),
            'mean': g.agg('mean')['v'].tolist(),
            'minmax': g['v'].agg(['min', 'max']).values.tolist(),
            'dict': g.agg({'v': 'sum', 'w': ['min', 'max']}).shape,
            'named': g.agg(total=('v', 'sum'), top=('w', 'max'))['total'].tolist(),
            'lambda': df['v'].apply(lambda x: x * 2).tolist(),
            'apply_axis': df[['v', 'w']].apply(lambda r: r.v + r.w, axis=1).tolist(),
            'apply_name': df['v'].apply('sqrt').round(3).tolist(),
            'transform': g['v'].transform('sum').tolist(),
            'merge': df.merge(pd.DataFrame({'k': ['a'], 'z': [9]}), on='k').shape,
            'pivot': df.pivot_table(index='k', values='v', aggfunc='sum')['v'].tolist(),
            'describe': df.describe().loc['mean', 'v'],
            'rolling': df['v'].rolling(2).agg('sum').tolist()[1:],
            'map': df['k'].map({'a': 'center', 'b': 'left'}).tolist(),
            'to_csv': df.head(1).to_csv(index=False),
            'options': pd.get_option('display.max_rows') > 0,
        }
        pd.set_option('display.max_columns', None)
        with pd.option_context('display.precision', 2):
            text = str(df)
        out['text'] = 'v' in text
        out
        """
    )
    out = executor(code).output
    assert out["sum"] == [4.0, 6.0]
    assert out["mean"] == [2.0, 3.0]
    assert out["minmax"] == [[1.0, 3.0], [2.0, 4.0]]
    assert out["dict"] == (2, 3)
    assert out["named"] == [4.0, 6.0]
    assert out["lambda"] == [2.0, 4.0, 6.0, 8.0]
    assert out["apply_axis"] == [5.0, 5.0, 5.0, 5.0]
    assert out["apply_name"] == [1.0, 1.414, 1.732, 2.0]
    assert out["transform"] == [4.0, 6.0, 4.0, 6.0]
    assert out["merge"] == (2, 4)
    assert out["pivot"] == [4.0, 6.0]
    assert out["describe"] == 2.5
    assert out["rolling"] == [3.0, 5.0, 7.0]
    assert out["map"] == ["center", "left", "center", "left"]
    assert out["to_csv"].startswith("k,v,w")
    assert out["options"] and out["text"]


def test_ordinary_numpy_work() -> None:
    executor = LocalPythonExecutor(["numpy", "numpy.random", "numpy.linalg"], timeout_seconds=20)
    code = textwrap.dedent(
        """
        import numpy as np
        a = np.arange(12, dtype=float).reshape(3, 4)
        np.random.seed(0)
        first = np.random.rand(3)
        np.random.seed(0)
        b = a.copy()
        b.resize(2, 6)
        grown = np.zeros(4)
        grown.resize(8)
        rec = np.zeros(2, dtype=[('x', 'f8'), ('y', 'i4')]).view(np.recarray)
        out = {
            'det': round(float(np.linalg.det(np.array([[2.0, 1.0], [1.0, 3.0]]))), 6),
            'solve': np.linalg.solve(np.eye(2) * 2, np.ones(2)).tolist(),
            'seeded': bool((first == np.random.rand(3)).all()),
            'rng': np.random.default_rng(1).integers(0, 10, 3).shape,
            'mask': a[a > 6].tolist(),
            'fancy': a[[0, 2], [1, 3]].tolist(),
            'T': a.T.shape,
            'view': a[::2, 1:3].tolist(),
            'isinstance': isinstance(a, np.ndarray) and type(a) is np.ndarray,
            'resized': (b.shape, grown.shape),
            'rec': rec.x.tolist(),
            'buffer_ok': np.ndarray((2,), dtype=np.int64, buffer=np.arange(4), offset=8).tolist(),
            'frombuffer': np.frombuffer(b'abcd', dtype='u1').tolist(),
            'r_': np.r_[1:3, 7].tolist(),
            'mgrid': np.mgrid[0:2, 0:2].shape,
            'errstate': True,
        }
        with np.errstate(divide='ignore'):
            out['inf'] = float(np.float64(1.0) / 0.0)
        out
        """
    )
    out = executor(code).output
    assert out["det"] == 5.0
    assert out["solve"] == [0.5, 0.5]
    assert out["seeded"] is True
    assert out["mask"] == [7.0, 8.0, 9.0, 10.0, 11.0]
    assert out["fancy"] == [1.0, 11.0]
    assert out["T"] == (4, 3)
    assert out["view"] == [[1.0, 2.0], [9.0, 10.0]]
    assert out["isinstance"] is True
    assert out["resized"] == ((2, 6), (8,))
    assert out["rec"] == [0.0, 0.0]
    assert out["buffer_ok"] == [1, 2]
    assert out["frombuffer"] == [97, 98, 99, 100]
    assert out["r_"] == [1, 2, 7]
    assert out["mgrid"] == (2, 2, 2)
    assert out["inf"] == float("inf")


def test_numpy_wildcard_sliding_window_and_strided_inside_base() -> None:
    executor = LocalPythonExecutor(["numpy.*"], timeout_seconds=10)
    code = textwrap.dedent(
        """
        import numpy as np
        from numpy.lib.stride_tricks import as_strided, sliding_window_view
        x = np.arange(6)
        (sliding_window_view(x, 3).tolist()[:2], as_strided(x, shape=(3,), strides=(16,)).tolist())
        """
    )
    assert executor(code).output == ([[0, 1, 2], [1, 2, 3]], [0, 2, 4])


def test_values_the_host_sent_work_without_authorising_their_library() -> None:
    executor = LocalPythonExecutor([], timeout_seconds=10)
    executor.send_variables({"a": np.arange(5), "df": pd.DataFrame({"x": [1, 2, 3]})})
    # their methods import numpy's own helpers (numpy._core._methods) from C code
    assert executor("a.sum()").output == 10
    assert executor("float(a.mean())").output == 2.0
    assert executor("float(df['x'].mean())").output == 2.0
    # the code itself still cannot import the library, and the array policy still holds
    with pytest.raises(SandboxSecurityError, match="Import of numpy is not allowed"):
        executor("import numpy")
    with pytest.raises(SandboxSecurityError, match="refcheck"):
        executor("a.resize(10, refcheck=False)")
    with pytest.raises(SandboxSecurityError, match="tofile"):
        executor("a.tofile('x.bin')")
