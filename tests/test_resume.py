"""Interrupted and concurrent runs of the real CLI on the embedded model.

A run killed with SIGKILL mid-generation and restarted must end with the same results as an
uninterrupted run, without duplicate rows (on each backend, `store_at`: a SQLite file, a
PostgreSQL database); two runs sharing one store must both complete. Batch size 1 keeps greedy
outputs independent of how items are grouped into batches.
"""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time

import psycopg
import pytest

from harness.store import is_url

N = 4
ARGS = [
    "run",
    "--suite",
    "ifeval",
    "--limit",
    str(N),
    "--batch-size",
    "1",
    "--max-new-tokens",
    "16",
]


def harness(store, output, quiet=False):
    cmd = [sys.executable, "-m", "harness", *ARGS, "--store", str(store), "--output", str(output)]
    return subprocess.Popen(
        [*cmd, *(["--quiet"] if quiet else [])],
        stderr=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def query(store, sql, *args):
    """The rows of `sql` (`?` placeholders), read from the store's file or database directly."""
    if is_url(store):
        with psycopg.connect(store) as db:
            return db.execute(sql.replace("?", "%s"), args).fetchall()
    with sqlite3.connect(store) as db:
        return db.execute(sql, args).fetchall()


def count(store, table):
    return query(store, f"SELECT COUNT(*) FROM {table}")[0][0]


def results(path):
    data = json.loads(path.read_text())
    return data["metrics"], [
        (r["id"], r["response"], r["strict"], r["loose"]) for r in data["records"]
    ]


@pytest.fixture(scope="module")
def reference(tmp_path_factory, embedded_model_dir):
    """An uninterrupted run in its own store."""
    folder = tmp_path_factory.mktemp("reference")
    proc = harness(folder / "store.sqlite", folder / "out.json", quiet=True)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    return results(folder / "out.json")


def test_killed_run_resumes_without_duplicates(store_at, tmp_path, reference):
    store, out = store_at, tmp_path / "out.json"
    proc = harness(store, out)
    deadline = time.time() + 300
    while time.time() < deadline:
        try:
            if (is_url(store) or store.exists()) and count(store, "generations") >= 2:
                break
        except (sqlite3.OperationalError, psycopg.errors.UndefinedTable):  # no schema yet
            pass
        assert proc.poll() is None, proc.communicate()[1]
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    saved = count(store, "generations")
    assert 2 <= saved < N, "the kill should land mid-generation"
    assert count(store, "scores") == 0 and not out.exists()

    proc = harness(store, out)
    _, err = proc.communicate(timeout=600)
    assert proc.returncode == 0, err
    assert f"{saved} of {N} found in the store, {N - saved} to generate" in err
    assert results(out) == reference
    assert count(store, "generations") == N
    statuses = sorted(s for (s,) in query(store, "SELECT status FROM runs"))
    [(finished,)] = query(store, "SELECT id FROM runs WHERE status='finished'")
    assert query(store, "SELECT COUNT(*) FROM scores WHERE run_id=?", finished) == [(N,)]
    assert statuses == ["finished", "interrupted"]  # the killed run stays visible, never counted


def test_two_concurrent_runs_share_one_store(tmp_path, reference):
    """SQLite only, to keep the suite short: concurrent writers to PostgreSQL are
    `test_store.test_four_concurrent_writers`, and the kill test runs the CLI on it."""
    store = tmp_path / "store.sqlite"
    procs = [harness(store, tmp_path / f"out{i}.json", quiet=True) for i in range(2)]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err
        assert "locked" not in err
    assert results(tmp_path / "out0.json") == results(tmp_path / "out1.json") == reference
    assert count(store, "generations") == N
    assert count(store, "runs") == 2 and count(store, "scores") == 2 * N
