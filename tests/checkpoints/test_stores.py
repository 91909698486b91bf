"""Every checkpoint store passes one conformance suite: SQLite, JSON files, PostgreSQL."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

import pytest

from smolagents import CheckpointError, CheckpointNotFoundError, MissingDependencyError, UserError
from smolagents.checkpoints import FORMAT, VERSION, PostgresCheckpointStore, SQLiteCheckpointStore

STORE_KINDS = ["sqlite", "directory", "postgres"]  # see make_store in conftest.py


def record(run_id: str, **changes: object) -> dict:
    base = {
        "format": FORMAT,
        "version": VERSION,
        "run_id": run_id,
        "status": "running",
        "run": {"task": "t", "max_steps": 3},
        "memory": [{"kind": "task", "data": {"task": "t", "task_images": None}}],
        "state": {},
        "pending": {"note": "kept verbatim", "nested": [1, {"a": None}]},
    }
    base.update(changes)
    return base


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_save_load_list_delete(kind, make_store):
    store = make_store(kind)
    assert store.list_runs() == []
    store.save("run-a", record("run-a"))
    time.sleep(0.01)  # list order is by save time
    store.save("run-b", record("run-b", status="finished"))
    assert store.load("run-a") == record("run-a")
    assert store.load("run-b")["status"] == "finished"
    assert store.list_runs() == ["run-b", "run-a"]
    time.sleep(0.01)
    store.save("run-a", record("run-a", pending={"changed": True}))  # replaces the whole document
    assert store.load("run-a")["pending"] == {"changed": True}
    assert store.list_runs() == ["run-a", "run-b"]
    assert store.exists("run-a") and not store.exists("run-c")
    assert store.delete("run-a") is True
    assert store.delete("run-a") is False
    assert store.list_runs() == ["run-b"]


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_unknown_run_id_names_the_known_ids_and_how_to_list_them(kind, make_store):
    store = make_store(kind)
    with pytest.raises(CheckpointNotFoundError) as empty:
        store.load("nope")
    assert "holds no checkpoint" in str(empty.value)
    store.save("run-1", record("run-1"))
    with pytest.raises(CheckpointNotFoundError) as info:
        store.load("nope")
    message = str(info.value)
    assert (
        "'nope'" in message and "'run-1'" in message and "list_runs()" in message and repr(store) in message
    )


@pytest.mark.parametrize("kind", STORE_KINDS)
@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('{"format": "smolagents.checkpoint", "version": 1, "run_id": "r", "sta', "not valid JSON"),
        ('["a list"]', "not a smolagents checkpoint"),
        ('{"format": "other", "version": 1}', "not a smolagents checkpoint"),
        ('{"format": "smolagents.checkpoint", "version": "1"}', "format version is '1'"),
        (json.dumps(record("r", memory="oops")), "'memory' is missing or not a list"),
        (json.dumps(record("r", status="weird")), "status 'weird'"),
        (json.dumps(record("other")), "belongs to run 'other'"),
        (json.dumps(record("r", memory=[{"kind": "task"}])), "memory entry 0"),
    ],
)
def test_a_corrupt_checkpoint_is_a_clear_error(kind, text, expected, make_store):
    store = make_store(kind)
    store.write("r", text)  # what a crash of another writer, or a hand edit, could leave
    with pytest.raises(CheckpointError) as info:
        store.load("r")
    message = str(info.value)
    assert expected in message
    assert "'r'" in message and repr(store) in message and "store.delete('r')" in message


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_newer_format_version_asks_for_an_upgrade(kind, make_store):
    store = make_store(kind)
    store.write("r", json.dumps(record("r", version=VERSION + 1)))
    with pytest.raises(CheckpointError) as info:
        store.load("r")
    assert f"version {VERSION + 1}" in str(info.value) and "pip install -U smolagents" in str(info.value)
    with pytest.raises(CheckpointError):  # nor can it be written back by this release
        store.save("r", record("r", version=VERSION + 1))


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_threads_write_at_once(kind, make_store):
    store = make_store(kind)
    errors: list[BaseException] = []

    def writer(n: int) -> None:
        try:
            for i in range(10):
                store.save(f"t{n}", record(f"t{n}", pending={"i": i}))
                store.load(f"t{n}")
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(store.list_runs()) == ["t0", "t1", "t2", "t3"]
    assert all(store.load(f"t{n}")["pending"] == {"i": 9} for n in range(4))


_WRITER = """
import sys
from smolagents.checkpoints import DirectoryCheckpointStore, SQLiteCheckpointStore
kind, path, n = sys.argv[1], sys.argv[2], sys.argv[3]
store = SQLiteCheckpointStore(path) if kind == "sqlite" else DirectoryCheckpointStore(path)
doc = {"format": "smolagents.checkpoint", "version": 1, "status": "running", "run": {}, "memory": [],
       "state": {}}
for i in range(25):
    store.save(f"p{n}", {**doc, "run_id": f"p{n}", "pending": {"i": i}})
    store.save("shared", {**doc, "run_id": "shared", "pending": {"writer": n, "i": i}})
"""


@pytest.mark.parametrize("kind", ["sqlite", "directory"])
def test_processes_write_at_once(kind, make_store):
    store = make_store(kind)
    path = str(store.path)  # type: ignore[attr-defined]
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, kind, path, str(n)], stderr=subprocess.PIPE, text=True
        )
        for n in range(3)
    ]
    for w in writers:
        assert w.wait(timeout=60) == 0, w.stderr.read() if w.stderr else ""
    assert sorted(store.list_runs()) == ["p0", "p1", "p2", "shared"]
    assert store.load("shared")["pending"]["i"] == 24  # whole documents, never a mix of writers
    assert all(store.load(f"p{n}")["pending"] == {"i": 24} for n in range(3))


def test_run_ids_must_be_safe_names(make_store):
    store = make_store("directory")
    for bad in ["../escape", "", "a/b", ".hidden", "x" * 200]:
        with pytest.raises(UserError, match="run_id must be"):
            store.save(bad, record(bad))
        assert store.read(bad) is None
    assert list(store.path.iterdir()) == []  # type: ignore[attr-defined]


def test_sqlite_refuses_an_in_memory_database():
    with pytest.raises(UserError, match="file path"):
        SQLiteCheckpointStore(":memory:")


def test_postgres_without_the_extra_names_the_pip_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "psycopg", None)  # what an environment without psycopg looks like
    with pytest.raises(MissingDependencyError, match=r"pip install 'smolagents\[postgres\]'"):
        PostgresCheckpointStore("host=/nonexistent dbname=x")


def test_postgres_repr_hides_the_password(postgres_dsn):
    store = PostgresCheckpointStore(postgres_dsn + " password=hunter2")
    try:
        assert "hunter2" not in repr(store) and "dbname=postgres" in repr(store)
    finally:
        store.close()


def test_import_smolagents_does_not_import_the_checkpoint_backends():
    code = "import sys, smolagents; print([m for m in ('sqlite3', 'psycopg', 'smolagents.checkpoints') if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]"
