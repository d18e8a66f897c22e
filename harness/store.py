"""The run store (SQLite): runs, cached generations, judgments and per-item scores.

Every model call is cached under a key of everything that determines its output, so a repeated or
interrupted run reuses what exists. Writes are single transactions (WAL journal, generous busy
timeout), so a crash never leaves half a row and two processes can share one store.
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from harness.errors import HarnessError

SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, model_fingerprint TEXT,
    config TEXT NOT NULL, status TEXT NOT NULL, metrics TEXT,
    started_at REAL NOT NULL, finished_at REAL
);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY, model_fingerprint TEXT NOT NULL, suite TEXT, request TEXT NOT NULL,
    text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, finish_reason TEXT,
    extra TEXT, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY, judge_fingerprint TEXT NOT NULL, request TEXT NOT NULL,
    status TEXT NOT NULL, output TEXT, parsed TEXT, error TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL REFERENCES runs(id), item_id TEXT NOT NULL, record TEXT NOT NULL,
    PRIMARY KEY (run_id, item_id)
);
CREATE INDEX IF NOT EXISTS runs_by_model ON runs(suite, model, finished_at);
"""


def cache_key(**parts) -> str:
    """A stable key for a model call: sha256 of canonical JSON of what determines its output."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode()).hexdigest()


@dataclass
class Run:
    id: str
    suite: str
    model: str
    model_fingerprint: str | None
    config: dict
    status: str
    metrics: dict | None
    started_at: float
    finished_at: float | None


class Store:
    """A SQLite store at `path` (created on first use)."""

    def __init__(self, path: str | Path, timeout: float = 120.0):
        self.path = Path(path)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self.db = sqlite3.connect(self.path, timeout=timeout, isolation_level=None)
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute(f"PRAGMA busy_timeout={int(timeout * 1000)}")
            with self.transaction() as db:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement)
        except (sqlite3.DatabaseError, OSError) as e:
            raise HarnessError(
                f"cannot open store {self.path}: {e}; pass --store with a writable SQLite file"
            ) from None

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue, not fail."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()

    # -- generations -------------------------------------------------------------------------
    def get_generations(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(keys)
        found: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.db.execute(
                f"SELECT key, text, prompt_tokens, completion_tokens, finish_reason, extra "
                f"FROM generations WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, text, pt, ct, fr, extra in rows:
                found[key] = {
                    "text": text,
                    "prompt_tokens": pt,
                    "completion_tokens": ct,
                    "finish_reason": fr,
                    **(json.loads(extra) if extra else {}),
                }
        return found

    def put_generations(self, rows: list[dict]) -> None:
        """Insert generations; a key already present (another process got there first) is kept."""
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR IGNORE INTO generations VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r["key"],
                        r["model_fingerprint"],
                        r.get("suite"),
                        json.dumps(r["request"], ensure_ascii=False),
                        r["text"],
                        r.get("prompt_tokens"),
                        r.get("completion_tokens"),
                        r.get("finish_reason"),
                        json.dumps(r["extra"]) if r.get("extra") else None,
                        now,
                    )
                    for r in rows
                ],
            )

    # -- judgments ---------------------------------------------------------------------------
    def get_judgments(self, keys: Iterable[str]) -> dict[str, dict]:
        keys = list(keys)
        found: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.db.execute(
                "SELECT key, status, output, parsed, error, prompt_tokens, completion_tokens "
                f"FROM judgments WHERE key IN ({','.join('?' * len(chunk))})",
                chunk,
            )
            for key, status, output, parsed, error, pt, ct in rows:
                found[key] = {
                    "status": status,
                    "output": output,
                    "parsed": json.loads(parsed) if parsed is not None else None,
                    "error": error,
                    "prompt_tokens": pt,
                    "completion_tokens": ct,
                }
        return found

    def put_judgments(self, rows: list[dict]) -> None:
        now = time.time()
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO judgments VALUES (?,?,?,?,?,?,?,?,?,?)",
                [
                    (
                        r["key"],
                        r["judge_fingerprint"],
                        json.dumps(r["request"], ensure_ascii=False),
                        r["status"],
                        r.get("output"),
                        json.dumps(r["parsed"]) if r.get("parsed") is not None else None,
                        r.get("error"),
                        r.get("prompt_tokens"),
                        r.get("completion_tokens"),
                        now,
                    )
                    for r in rows
                ],
            )

    # -- runs and scores ---------------------------------------------------------------------
    def start_run(self, suite: str, model: str, fingerprint: str | None, config: dict) -> str:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs VALUES (?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    suite,
                    model,
                    fingerprint,
                    json.dumps(config),
                    "running",
                    None,
                    time.time(),
                    None,
                ),
            )
        return run_id

    def finish_run(self, run_id: str, metrics: dict, records: list[dict]) -> None:
        """Scores and metrics land together, or not at all."""
        with self.transaction() as db:
            db.executemany(
                "INSERT OR REPLACE INTO scores VALUES (?,?,?)",
                ((run_id, str(r["id"]), json.dumps(r, ensure_ascii=False)) for r in records),
            )
            db.execute(
                "UPDATE runs SET status='finished', metrics=?, finished_at=? WHERE id=?",
                (json.dumps(metrics), time.time(), run_id),
            )

    def fail_run(self, run_id: str, reason: str) -> None:
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE id=?",
                (f"failed: {reason}"[:500], time.time(), run_id),
            )

    def runs(
        self, suite: str | None = None, model: str | None = None, finished_only: bool = True
    ) -> list[Run]:
        sql, args = "SELECT * FROM runs WHERE 1=1", []
        if suite:
            sql, args = sql + " AND suite=?", [*args, suite]
        if model:
            sql, args = sql + " AND model=?", [*args, model]
        if finished_only:
            sql += " AND status='finished'"
        rows = self.db.execute(sql + " ORDER BY started_at", args).fetchall()
        return [
            Run(
                r[0],
                r[1],
                r[2],
                r[3],
                json.loads(r[4]),
                r[5],
                json.loads(r[6]) if r[6] else None,
                r[7],
                r[8],
            )
            for r in rows
        ]

    def latest_run(self, suite: str, model: str) -> Run | None:
        runs = self.runs(suite=suite, model=model)
        return runs[-1] if runs else None

    def scores(self, run_id: str) -> list[dict]:
        rows = self.db.execute("SELECT record FROM scores WHERE run_id=? ORDER BY rowid", (run_id,))
        return [json.loads(r[0]) for r in rows]

    def count(self, table: str) -> int:
        if table not in ("runs", "generations", "judgments", "scores"):
            raise ValueError(table)
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def open_store(path: str | Path) -> Store:
    """Open a store, refusing a file that exists but is not a SQLite database (left untouched)."""
    p = Path(path)
    if p.exists() and p.stat().st_size > 0:
        with open(p, "rb") as f:
            if f.read(16) != b"SQLite format 3\x00":
                raise HarnessError(
                    f"store {p} is not a SQLite database; pass --store with another path"
                )
    return Store(p)
