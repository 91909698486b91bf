"""Security: file I/O and code-evaluation paths of authorised data libraries."""

from __future__ import annotations

import pytest

from smolagents.local_python_executor import LocalPythonExecutor

pytestmark = pytest.mark.timeout(30)

NUMPY_IO = {
    "save": "import numpy as np\nnp.save('SENTINEL', np.zeros(2))",
    "savetxt": "import numpy as np\nnp.savetxt('SENTINEL', np.zeros(2))",
    "savez": "import numpy as np\nnp.savez('SENTINEL', a=np.zeros(2))",
    "load": "import numpy as np\nnp.load('/etc/passwd', allow_pickle=True)",
    "loadtxt": "import numpy as np\nnp.loadtxt('/etc/passwd')",
    "genfromtxt": "import numpy as np\nnp.genfromtxt('/etc/passwd')",
    "fromfile": "import numpy as np\nnp.fromfile('/etc/passwd')",
    "memmap": "import numpy as np\nnp.memmap('SENTINEL', mode='w+', shape=(2,))",
    "datasource": "import numpy as np\nnp.DataSource()",
    "tofile_method": "import numpy as np\nnp.zeros(2).tofile('SENTINEL')",
    "dump_method": "import numpy as np\nnp.zeros(2).dump('SENTINEL')",
    "tofile_getattr": "import numpy as np\ngetattr(np.zeros(2), 'tofile')('SENTINEL')",
    "npyio_submodule": "import numpy.lib.npyio",
    "ma_dump": "import numpy as np\nnp.ma.dump(np.ma.zeros(2), 'SENTINEL')",
    "lib_format_open_memmap": "import numpy.lib.format as f\nf.open_memmap('SENTINEL', mode='w+', shape=(2,))",
    "seterrcall_host_hook": "import numpy as np\nnp.seterrcall(print)",
    "set_printoptions_host_state": "import numpy as np\nnp.set_printoptions(precision=1)",
    "huge_allocation": "import numpy as np\nnp.ones((10**6, 10**6))",
}


@pytest.mark.parametrize("code", list(NUMPY_IO.values()), ids=list(NUMPY_IO))
def test_numpy_file_io_refused_by_default(attack, code: str) -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    attack(code, executor=LocalPythonExecutor(["numpy.*"], timeout_seconds=5))


def test_numpy_io_allowed_when_enabled(tmp_path) -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    path = str(tmp_path / "array.npy")
    executor = LocalPythonExecutor(["numpy"], allow_data_io=True)
    executor(f"import numpy as np\nnp.save({path!r}, np.arange(3))")
    assert executor(f"np.load({path!r}).tolist()").output == [0, 1, 2]


def test_numpy_regular_use_is_unaffected() -> None:
    import numpy  # noqa: F401  (in the test extra: fail if missing, never skip)

    executor = LocalPythonExecutor(["numpy"])
    code = "import numpy as np\na = np.arange(12).reshape(3, 4)\n(a.sum(axis=0).tolist(), float(a.mean()), np.dumps if False else a.T.shape)"
    assert executor(code).output == ([12, 15, 18, 21], 5.5, (4, 3))


PANDAS_IO = {
    "read_csv": "import pandas as pd\npd.read_csv('/etc/passwd')",
    "read_pickle": "import pandas as pd\npd.read_pickle('/tmp/x.pkl')",
    "to_csv_path": "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv('SENTINEL')",
    "to_csv_keyword_path": "import pandas as pd\npd.DataFrame({'a': [1]}).to_csv(path_or_buf='SENTINEL')",
    "to_pickle": "import pandas as pd\npd.DataFrame({'a': [1]}).to_pickle('SENTINEL')",
    "to_json_path": "import pandas as pd\npd.DataFrame({'a': [1]}).to_json('SENTINEL')",
    "pd_eval": "import pandas as pd\npd.eval('1 + 1')",
    "dataframe_query": "import pandas as pd\npd.DataFrame({'a': [1]}).query('a.__class__')",
    "dataframe_eval": "import pandas as pd\npd.DataFrame({'a': [1]}).eval('a + 1')",
    "series_to_csv": "import pandas as pd\npd.Series([1]).to_csv('SENTINEL')",
}


@pytest.mark.parametrize("code", list(PANDAS_IO.values()), ids=list(PANDAS_IO))
def test_pandas_file_io_and_eval_refused(attack, code: str) -> None:
    import pandas  # noqa: F401  (in the test extra: fail if missing, never skip)

    attack(code, executor=LocalPythonExecutor(["pandas"], timeout_seconds=5))


def test_pandas_string_exports_still_work() -> None:
    import pandas  # noqa: F401  (in the test extra: fail if missing, never skip)

    executor = LocalPythonExecutor(["pandas"])
    assert "a" in executor("import pandas as pd\npd.DataFrame({'a': [1]}).to_csv()").output


def test_pickle_loading_refused_even_when_authorised(attack) -> None:
    payload = "import pickle\npickle.loads(b'cos\\nsystem\\n(S\"touch SENTINEL\"\\ntR.')"
    with pytest.warns(UserWarning):
        executor = LocalPythonExecutor(["pickle"], timeout_seconds=2)
    attack(payload, executor=executor)
