"""Store: cache keys, idempotent writes, atomic run completion, concurrent writers, refusal of
what is not a store; on both backends (`store_at`: a SQLite file, a PostgreSQL database)."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
import time

import psycopg
import pytest
from openai_server import OpenAIServer

from harness.cli import main
from harness.errors import HarnessError, StoreError
from harness.redact import redact, redact_url
from harness.store import TABLES, Store, cache_key, is_url, open_store


def test_cache_key_is_canonical_and_sensitive():
    a = cache_key(model="m", conversation=[{"role": "user", "content": "hi"}], sampling={"t": 0})
    b = cache_key(sampling={"t": 0}, conversation=[{"role": "user", "content": "hi"}], model="m")
    c = cache_key(model="m", conversation=[{"role": "user", "content": "hi!"}], sampling={"t": 0})
    assert a == b != c


def test_generation_written_once(store_at):
    store = open_store(store_at)
    row = {"key": "k1", "model_fingerprint": "fp", "request": {"x": 1}, "text": "first"}
    store.put_generations([row])
    store.put_generations([{**row, "text": "second"}])  # another process got there first
    assert store.get_generations(["k1", "k2"]) == {
        "k1": {
            "text": "first",
            "prompt_tokens": None,
            "completion_tokens": None,
            "finish_reason": None,
        }
    }
    store.put_generations([{**row, "text": "again"}], replace=True)  # --refresh
    assert store.get_generations(["k1"])["k1"]["text"] == "again"
    assert store.count("generations") == 1
    store.put_node("n", "step", {"v": 1})
    store.put_node("n", "step", {"v": 2})  # the first record wins
    assert store.get_node("n") == {"v": 1} and store.get_node("m") is None


def test_failed_transaction_leaves_nothing(store_at):
    store = open_store(store_at)
    run = store.start_run("ifeval", "m", "fp", {})
    with pytest.raises(TypeError):  # the second record fails after the first was inserted
        store.finish_run(run, {"acc": 1.0}, [{"id": "1"}, {"id": object()}])
    assert store.count("scores") == 0
    assert store.runs(finished_only=False)[0].status == "running"


def test_finished_run_round_trip(store_at):
    store = open_store(store_at)
    run = store.start_run("ifeval", "m", "fp", {"limit": 2})
    store.finish_run(run, {"acc": 0.5}, [{"id": "2", "ok": True}, {"id": "1", "ok": False}])
    latest = store.latest_run("ifeval", "m")
    assert latest.id == run and latest.metrics == {"acc": 0.5} and latest.config == {"limit": 2}
    assert [r["ok"] for r in store.scores(run)] == [True, False]  # in the order written
    assert abs(latest.finished_at - time.time()) < 60  # a float of full precision
    assert store.log(run)["over"] == {"total": 0, "failed": 0, "unit": "items"}


def test_replies_with_control_characters_round_trip(store_at):
    """A reply may hold any character; PostgreSQL text cannot hold NUL, so it is escaped there."""
    store = open_store(store_at)
    texts = ["a\x00b", "\x01\x02 and \x00\x01\x00", "\x01\x01", "plain"]
    store.put_generations(
        [
            {"key": f"k\x00{i}", "model_fingerprint": "fp", "request": {}, "text": t}
            for i, t in enumerate(texts)
        ]
    )
    got = store.get_generations([f"k\x00{i}" for i in range(len(texts))] + ["k0"])
    assert [got[f"k\x00{i}"]["text"] for i in range(len(texts))] == texts and "k0" not in got
    store.put_judgments(
        [{"key": "j", "judge_fingerprint": "fp", "request": {}, "status": "ok", "output": texts[1]}]
    )
    assert store.get_judgments(["j"])["j"]["output"] == texts[1]
    run = store.start_run("ifeval", "m\x00", "fp", {})
    store.fail_run(run, "the endpoint sent \x00")
    assert (
        store.run(run).model == "m\x00"
        and store.run(run).status == "failed: the endpoint sent \x00"
    )


def test_missing_run_columns_are_added(store_at):
    store = open_store(store_at)
    for column in ("unit", "notes"):  # as in a store from before they existed
        store.db.execute(f"ALTER TABLE runs DROP COLUMN {column}")
    store.close()
    store = open_store(store_at)
    run = store.start_run("ifeval", "m", "fp", {})
    store.finish_run(run, {"acc": 1.0}, [], notes=["over 0 items"], unit="judgments")
    assert (store.run(run).notes, store.run(run).unit) == (["over 0 items"], "judgments")


def test_refuses_a_file_that_is_not_sqlite(tmp_path):
    bogus = tmp_path / "store.sqlite"
    bogus.write_text("not a database")
    with pytest.raises(HarnessError, match="not a SQLite database"):
        open_store(bogus)
    assert bogus.read_text() == "not a database"


def python(code: str, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)], stderr=subprocess.PIPE, text=True
    )


WRITER = """
import sys, time
from pathlib import Path
from harness.store import open_store
where, i, n, go = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), Path(sys.argv[4])
Path(f"{go}.{i}").touch()
while not go.exists():
    time.sleep(0.01)
store = open_store(where)  # four at once on a new store: the schema too
run = store.start_run("ifeval", f"m{i}", "fp", {})
for j in range(n):
    shared = {"key": f"k{j}", "model_fingerprint": "fp", "request": {}, "text": f"w{i}"}
    own = {**shared, "key": f"w{i}-{j}"}
    store.put_generations([shared, own])
    store.put_judgments([{"key": f"j{j}", "judge_fingerprint": "f", "request": {},
                          "status": "ok", "parsed": i}])
    store.put_node(f"n{j}", "step", {"by": i})
store.finish_run(run, {"acc": i}, [{"id": str(j), "by": i} for j in range(n)], n)
"""


def test_four_concurrent_writers(store_at, tmp_path):
    """Four processes write the same keys and their own into one store at once: every write
    lands once, none fails or is lost."""
    n, go = 20, tmp_path / "go"
    writers = [python(WRITER, store_at, i, n, go) for i in range(4)]
    deadline = time.time() + 60
    while not all((tmp_path / f"go.{i}").exists() for i in range(4)) and time.time() < deadline:
        time.sleep(0.01)
    go.touch()
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    store = open_store(store_at)
    assert store.count("generations") == n + 4 * n and store.count("nodes") == n
    assert store.count("judgments") == n and store.count("scores") == 4 * n
    texts = {g["text"] for g in store.get_generations([f"k{j}" for j in range(n)]).values()}
    assert texts <= {"w0", "w1", "w2", "w3"}
    runs = store.runs()
    assert sorted(r.model for r in runs) == ["m0", "m1", "m2", "m3"]
    for run in runs:
        assert [r["by"] for r in store.scores(run.id)] == [run.metrics["acc"]] * n


def test_a_dead_writers_run_is_marked_interrupted(store_at):
    """A run whose process on this host is gone is `interrupted` when the store is next opened;
    one whose process lives stays `running`."""
    code = "import sys; from harness.store import open_store\n"
    code += "open_store(sys.argv[1]).start_run('ifeval', 'gone', 'fp', {})"
    assert python(code, store_at).wait(timeout=60) == 0  # exits with its run unfinished
    open_store(store_at).start_run("ifeval", "alive", "fp", {})
    runs = open_store(store_at).runs(finished_only=False)
    assert {r.model: r.status for r in runs} == {"gone": "interrupted", "alive": "running"}


HOLDER = """
import sys
from harness.store import open_store
where = sys.argv[1]
store = open_store(where)
store.put_node("p1-a", "step", {})
again = open_store(where)  # a second open in one process, as `experiments run` makes
print("ready", flush=True)
for line in sys.stdin:  # a key to write, then say so
    store.put_node(line.strip(), "step", {})
    print(store.get_node(line.strip()) is not None, flush=True)
"""


def nodes_and_integrity(where) -> tuple[set[str], str]:
    """Every node key in a SQLite store and its integrity check, read by a fresh connection."""
    db = sqlite3.connect(where)
    try:
        keys = {k for (k,) in db.execute("SELECT key FROM nodes")}
        return keys, db.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        db.close()


def test_another_process_closing_the_store_loses_no_write_of_one_that_opened_it_twice(tmp_path):
    """Process 1 opens the store twice; process 2 opens, reads and closes it; process 1 and a
    third process write on. Every write lands: closing a store never takes it for the last user
    while process 1 still has it open (SQLite's locks held, the WAL kept)."""
    where = tmp_path / "store.sqlite"
    p1 = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(where)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )

    def write(key: str) -> str:
        p1.stdin.write(key + "\n")
        p1.stdin.flush()
        return p1.stdout.readline().strip()

    assert p1.stdout.readline() == "ready\n", p1.stderr.read()
    reader = "import sys; from harness.store import open_store\n"
    reader += "s = open_store(sys.argv[1]); s.count('nodes'); s.close()"
    assert python(reader, where).wait(timeout=60) == 0
    assert write("p1-b") == "True", p1.stderr.read()
    writer = "import sys; from harness.store import open_store\n"
    writer += "s = open_store(sys.argv[1]); s.put_node('p3', 'step', {}); s.close()"
    assert python(writer, where).wait(timeout=60) == 0
    assert write("p1-c") == "True", p1.stderr.read()
    p1.stdin.close()
    assert p1.wait(timeout=60) == 0, p1.stderr.read()
    assert nodes_and_integrity(where) == ({"p1-a", "p1-b", "p3", "p1-c"}, "ok")


STEADY_WRITER = """
import sys, time
from harness.store import open_store
where, n = sys.argv[1], int(sys.argv[2])
store, again = open_store(where), open_store(where)  # two opens, as `experiments run` makes
for j in range(n):
    (store, again)[j % 2].put_node(f"{sys.argv[3]}{j}", "step", {"j": j})
    open_store(where).close()  # a short-lived third, as an evaluation's own
    time.sleep(0.02)  # the other processes' work goes on between writes
again.close()
store.close()
"""
READER = """
import sys
from pathlib import Path
from harness.store import open_store
where, stop = sys.argv[1], Path(sys.argv[2])
seen = []
while not stop.exists() or len(seen) < 3:
    store = open_store(where)
    seen.append(store.count("nodes"))
    store.close()
assert seen == sorted(seen), seen  # a committed write never disappears
"""


def test_readers_in_other_processes_while_a_writer_writes(store_at, tmp_path):
    """Leaderboards, reports and compare open, read and close the store while a run writes:
    every committed write stays, and no reader or writer fails."""
    n, stop = 60, tmp_path / "stop"
    open_store(store_at).close()  # the schema, so readers find the tables
    readers = [python(READER, store_at, stop) for _ in range(2)]
    writer = python(STEADY_WRITER, store_at, n, "w")
    assert writer.wait(timeout=120) == 0, writer.stderr.read()
    stop.touch()
    for reader in readers:
        assert reader.wait(timeout=60) == 0, reader.stderr.read()
    store = open_store(store_at)
    assert store.count("nodes") == n
    if not is_url(store_at):
        assert nodes_and_integrity(store_at)[1] == "ok"


def test_two_writer_processes_that_each_open_the_store_twice(store_at):
    """Two experiments (or runs) on one store, each process with several opens: the one that
    finishes first closes its store while the other writes on, and nothing is lost."""
    writers = [python(STEADY_WRITER, store_at, n, key) for n, key in ((10, "a"), (60, "b"))]
    for writer in writers:
        assert writer.wait(timeout=120) == 0, writer.stderr.read()
    store = open_store(store_at)
    assert store.count("nodes") == 70
    if not is_url(store_at):
        assert nodes_and_integrity(store_at)[1] == "ok"


# -- PostgreSQL only -------------------------------------------------------------------------
def tables(url: str) -> dict[str, list]:
    """Every table of a database's public schema, with its columns and rows."""
    with psycopg.connect(url) as db:
        names = db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema='public'"
        ).fetchall()
        return {
            name: [
                [c.name for c in db.execute(f"SELECT * FROM {name}").description],
                sorted(map(repr, db.execute(f"SELECT * FROM {name}").fetchall())),
            ]
            for (name,) in names
        }


def test_a_foreign_postgres_database_is_refused_untouched(postgres_url):
    with psycopg.connect(postgres_url) as db:  # another application's, with a `runs` of its own
        db.execute("CREATE TABLE users (name TEXT)")
        db.execute("CREATE TABLE runs (id TEXT PRIMARY KEY, owner TEXT)")
        db.execute("INSERT INTO users VALUES ('ada')")
        db.execute("INSERT INTO runs VALUES ('r1', 'ada')")
    before = tables(postgres_url)
    with pytest.raises(HarnessError) as refused:
        open_store(postgres_url)
    message = str(refused.value)
    assert "PostgreSQL database of another application, not a harness store" in message
    assert "\n" not in message
    assert tables(postgres_url) == before


SECRET = "PgSecret-0451"


def test_a_password_in_the_url_is_never_shown(postgres_url, tmp_path, capsys, caplog, monkeypatch):
    caplog.set_level(logging.DEBUG)
    dead = f"postgresql://ada:{SECRET}@127.0.0.1:1/runs"  # nothing listens on port 1
    with pytest.raises(HarnessError) as refused:
        open_store(dead)
    message = str(refused.value)
    assert message.startswith("cannot open store postgresql://ada:***@127.0.0.1:1/runs: ")
    assert "\n" not in message and SECRET not in message and "password" in message

    url = postgres_url.replace("postgres:@", f"postgres:{SECRET}@")  # the server trusts it
    assert SECRET not in str(open_store(url).path) and "postgres:***@" in str(open_store(url).path)
    out = tmp_path / "run.json"
    with OpenAIServer(lambda body: "a reply") as server:
        argv = ["run", "--suite", "ifeval", "--model", "org/served", "--backend", "openai"]
        argv += ["--base-url", server.base_url, "--limit", "2"]
        assert main([*argv, "--store", url, "--output", str(out)]) == 0
        monkeypatch.setenv("ECD_HARNESS_STORE", url)
        assert main(argv) == 0  # the same store, named by $ECD_HARNESS_STORE
        assert server.calls == 2, "the second run found the first's generations"
    printed = capsys.readouterr()
    assert json.loads(out.read_text())["config"]["store"] == str(open_store(url).path)
    stored = tables(postgres_url)
    assert len(stored["runs"][1]) == 2 and set(stored) >= TABLES
    for text in (printed.out, printed.err, out.read_text(), caplog.text, repr(stored)):
        assert SECRET not in text


def test_a_dropped_connection_is_opened_again(postgres_url):
    """A run waits on its model for hours between writes: a connection the server dropped
    meanwhile is opened again, and the write lands."""
    store = open_store(postgres_url)
    store.put_node("a", "step", {})
    with psycopg.connect(postgres_url, autocommit=True) as db:
        db.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE application_name='ecd-harness'"
        )
    store.put_node("b", "step", {})
    assert store.get_node("b") == {} and store.count("nodes") == 2


@pytest.mark.parametrize(
    "url, shown",
    [
        ("postgresql://ada:pa/ss@db-host/runs", "postgresql://ada:***@db-host/runs"),
        ("postgresql://ada:p@ss:w/rd%@db-host:5432/runs", "postgresql://ada:***@db-host:5432/runs"),
        ("postgresql://ada:p%40ss%2Fw%25@db-host/runs", "postgresql://ada:***@db-host/runs"),
        ("postgresql://ada:a?b#c@db-host/runs", "postgresql://ada:***@db-host/runs"),
        ("http://host:8000/v1", "http://host:8000/v1"),
        ("http://host/users/@me", "http://host/users/@me"),
    ],
)
def test_a_url_password_is_masked_however_it_is_written(url, shown):
    assert redact_url(url) == shown
    assert redact(f"cannot open {url}: refused") == f"cannot open {shown}: refused"


@pytest.mark.parametrize("password", ["pa/ss", "p@ss:w/rd%", "p%zz"])
def test_a_malformed_store_url_is_one_line_without_its_password(password, capsys):
    """Reserved characters in the password are refused before libpq reads the URL (it would take
    part of the password for a host or port, and name it in its error)."""
    from leaderboards.__main__ import main

    assert main(["show", "--store", f"postgresql://ada:{password}@127.0.0.1:1/runs"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and err.startswith("error: store URL postgresql://ada:***@")
    assert "percent-encode" in err and password not in err and "connection" not in err


def test_an_encoded_password_is_masked_when_the_connection_fails():
    for password in ("Pg%2FSecret", "Pg%40Secret%3A"):
        with pytest.raises(HarnessError) as refused:
            open_store(f"postgresql://ada:{password}@127.0.0.1:1/runs")
        message = str(refused.value)
        assert message.startswith("cannot open store postgresql://ada:***@127.0.0.1:1/runs: ")
        assert "Secret" not in message and "\n" not in message


def _corrupt_store(path) -> bytes:
    """A store whose scores table spans many pages, one of them then overwritten with garbage
    while no connection is open. Returns the damaged file's bytes."""
    store = open_store(path)
    run = store.start_run("ifeval", "m", "fp", {})
    store.finish_run(
        run, {"acc": 1.0}, [{"id": str(i), "text": "x" * 500} for i in range(400)], 400
    )
    store.close()
    data = bytearray(path.read_bytes())
    middle = len(data) // 2 // 4096 * 4096
    data[middle : middle + 4096] = bytes(range(256)) * 16
    path.write_bytes(bytes(data))
    return bytes(data)


def test_a_damaged_store_is_refused_in_one_line_and_never_written(tmp_path, capsys, data_dir):
    """`PRAGMA quick_check` on open: `show` says so in one line instead of a traceback, and `score`
    refuses it before writing anything into it."""
    from leaderboards.__main__ import main as leaderboards

    path = tmp_path / "store.sqlite"
    damaged = _corrupt_store(path)
    assert leaderboards(["show", "--store", str(path)]) == 2
    responses = tmp_path / "r.jsonl"
    with open(data_dir / "ifeval" / "input_data.jsonl") as f:  # a valid file: only the store is bad
        prompt = json.loads(f.readline())["prompt"]
    responses.write_text(json.dumps({"prompt": prompt, "response": "hi"}) + "\n")
    argv = ["score", "--suite", "ifeval", "--responses", str(responses), "--model", "m"]
    assert main([*argv, "--store", str(path), "--quiet"]) == 2
    for err in capsys.readouterr().err.splitlines():
        assert err.startswith(f"error: cannot open store {path}: the file is damaged (")
    wal = tmp_path / "store.sqlite-wal"  # a WAL store's reader makes one: it stays empty
    assert path.read_bytes() == damaged and (not wal.exists() or wal.stat().st_size == 0)


def _fill(store: Store) -> None:
    """The disk is full: no page beyond those the file has (SQLite's `max_page_count`)."""
    pages = store.db.execute("PRAGMA page_count").fetchone()[0]
    store.db.execute(f"PRAGMA max_page_count={pages}")


def test_a_full_disk_fails_the_run_in_one_line(tmp_path, capsys, monkeypatch):
    """Disk full when a run starts: a StoreError (one line, exit 1); mid-run: one line, exit 1,
    and the run is failed with the reason, not left `running`."""
    path = tmp_path / "store.sqlite"
    store = open_store(path)
    _fill(store)
    with pytest.raises(StoreError, match=r"database or disk is full; free space on its disk"):
        store.start_run("ifeval", "m", "fp", {"big": "x" * 100_000})
    store.close()
    put_generations = Store.put_generations

    def full(store, rows, replace=False):
        _fill(store)
        return put_generations(store, rows, replace)

    monkeypatch.setattr(Store, "put_generations", full)
    argv = ["run", "--suite", "ifeval", "--model", "org/served", "--backend", "openai"]
    with OpenAIServer(lambda body: "a long reply " * 2000) as server:
        argv += ["--base-url", server.base_url, "--limit", "2", "--store", str(path), "--quiet"]
        assert main(argv) == 1
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert err.startswith(f"error: store {path}: database or disk is full; free space on")
    (run,) = open_store(path).runs(finished_only=False)
    assert run.status.startswith(f"failed: store {path}: database or disk is full")


def test_a_write_lock_held_past_the_busy_timeout_is_one_line(tmp_path):
    path = tmp_path / "store.sqlite"
    store = Store(path, timeout=0.3)
    blocker = sqlite3.connect(path, isolation_level=None)
    blocker.execute("BEGIN IMMEDIATE")
    try:
        with pytest.raises(StoreError) as failed:
            store.put_node("a", "step", {})
    finally:
        blocker.execute("ROLLBACK")
    message = str(failed.value)
    assert message == (
        f"store {path}: database is locked; another process held its write lock past the busy "
        "timeout; rerun when it is done"
    )
    store.put_node("a", "step", {})  # the lock free again: the store works on
    assert store.get_node("a") == {}


def test_a_lost_postgres_connection_mid_write_is_one_line(postgres_url):
    """The server restarted inside a write transaction: that write fails as one line (a write
    outside one reconnects: test_a_dropped_connection_is_opened_again)."""
    store = open_store(postgres_url)
    with pytest.raises(StoreError) as failed:
        with store.transaction() as db:
            with psycopg.connect(postgres_url, autocommit=True) as admin:
                admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            db.execute("SELECT 1")
    message = str(failed.value)
    assert message.startswith(f"store {store.path}: ") and "\n" not in message
    assert message.endswith(
        "check the store and rerun the command (finished model calls are cached)"
    )
    store.put_node("b", "step", {})  # the next write connects again
