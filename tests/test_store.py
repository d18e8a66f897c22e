"""Store: cache keys, idempotent writes, atomic run completion, refusal of non-SQLite files."""

from __future__ import annotations

import pytest

from harness.errors import HarnessError
from harness.store import Store, cache_key, open_store


def test_cache_key_is_canonical_and_sensitive():
    a = cache_key(model="m", conversation=[{"role": "user", "content": "hi"}], sampling={"t": 0})
    b = cache_key(sampling={"t": 0}, conversation=[{"role": "user", "content": "hi"}], model="m")
    c = cache_key(model="m", conversation=[{"role": "user", "content": "hi!"}], sampling={"t": 0})
    assert a == b != c


def test_generation_written_once(tmp_path):
    store = Store(tmp_path / "s.sqlite")
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
    assert store.count("generations") == 1


def test_failed_transaction_leaves_nothing(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    run = store.start_run("ifeval", "m", "fp", {})
    with pytest.raises(TypeError):  # the second record fails after the first was inserted
        store.finish_run(run, {"acc": 1.0}, [{"id": "1"}, {"id": object()}])
    assert store.count("scores") == 0
    assert store.runs(finished_only=False)[0].status == "running"


def test_finished_run_round_trip(tmp_path):
    store = Store(tmp_path / "s.sqlite")
    run = store.start_run("ifeval", "m", "fp", {"limit": 2})
    store.finish_run(run, {"acc": 0.5}, [{"id": "1", "ok": True}, {"id": "2", "ok": False}])
    latest = store.latest_run("ifeval", "m")
    assert latest.id == run and latest.metrics == {"acc": 0.5} and latest.config == {"limit": 2}
    assert [r["ok"] for r in store.scores(run)] == [True, False]


def test_refuses_a_file_that_is_not_sqlite(tmp_path):
    bogus = tmp_path / "store.sqlite"
    bogus.write_text("not a database")
    with pytest.raises(HarnessError, match="not a SQLite database"):
        open_store(bogus)
    assert bogus.read_text() == "not a database"
