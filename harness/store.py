"""The run store: runs, cached generations, judgments, per-item scores and experiment nodes.

Every model call is cached under a key of everything that determines its output, so a repeated or
interrupted run reuses what exists. Every write is one transaction that first takes the store's
write lock, so a crash never leaves half a row and concurrent writers queue instead of failing.

SQLite (a file; WAL journal, generous busy timeout) is the embedded default. A `postgresql://`
URL opens the same store in PostgreSQL, for runs on several machines that share one. The SQL is
written once, in `Store`; a backend (`SQLite` here, `harness.store_pg.Postgres`) is only the
seams: connection and write lock, the store's marker, the float type and the column rows keep
their order in, listing tables and columns.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import sqlite3
import time
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

from harness.errors import HarnessError, StoreError
from harness.redact import redact, redact_url

# `{real}` and `{seq}`: each backend's float type and insertion-order column (SQLite: the rowid).
SCHEMA = """
CREATE TABLE IF NOT EXISTS runs (
    id TEXT PRIMARY KEY, suite TEXT NOT NULL, model TEXT NOT NULL, model_fingerprint TEXT,
    config TEXT NOT NULL, status TEXT NOT NULL, metrics TEXT,
    started_at {real} NOT NULL, finished_at {real}{seq}
);
CREATE TABLE IF NOT EXISTS generations (
    key TEXT PRIMARY KEY, model_fingerprint TEXT NOT NULL, suite TEXT, request TEXT NOT NULL,
    text TEXT NOT NULL, prompt_tokens INTEGER, completion_tokens INTEGER, finish_reason TEXT,
    extra TEXT, created_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY, judge_fingerprint TEXT NOT NULL, request TEXT NOT NULL,
    status TEXT NOT NULL, output TEXT, parsed TEXT, error TEXT,
    prompt_tokens INTEGER, completion_tokens INTEGER, created_at {real} NOT NULL
);
CREATE TABLE IF NOT EXISTS scores (
    run_id TEXT NOT NULL REFERENCES runs(id), item_id TEXT NOT NULL, record TEXT NOT NULL{seq},
    PRIMARY KEY (run_id, item_id)
);
CREATE TABLE IF NOT EXISTS nodes (
    key TEXT PRIMARY KEY, kind TEXT NOT NULL, record TEXT NOT NULL, created_at {real} NOT NULL
);
CREATE INDEX IF NOT EXISTS runs_by_model ON runs(suite, model, finished_at);
"""
# Columns added after the first release; an older store gains them when opened.
RUN_COLUMNS = {
    "comparability": "TEXT",
    "n_total": "INTEGER",
    "n_failed": "INTEGER",
    "pid": "INTEGER",
    "host": "TEXT",
    "versions": "TEXT",
    "breakdown": "TEXT",
    "notes": "TEXT",
    "unit": "TEXT",
}
# The columns each write names, the key first (`_insert`): a conflict is on the key.
COLUMNS = {
    "generations": (
        "key",
        "model_fingerprint",
        "suite",
        "request",
        "text",
        "prompt_tokens",
        "completion_tokens",
        "finish_reason",
        "extra",
        "created_at",
    ),
    "judgments": (
        "key",
        "judge_fingerprint",
        "request",
        "status",
        "output",
        "parsed",
        "error",
        "prompt_tokens",
        "completion_tokens",
        "created_at",
    ),
    "scores": ("run_id", "item_id", "record"),
    "nodes": ("key", "kind", "record", "created_at"),
}
KEYS = {"generations": 1, "judgments": 1, "scores": 2, "nodes": 1}  # leading key columns
# The store's marker, "ECDH" (SQLite: `PRAGMA application_id`; PostgreSQL: a `harness_meta` row),
# so an unrelated database passed as --store is refused instead of gaining our tables.
APPLICATION_ID = 0x45434448
TABLES = {"runs", "generations", "judgments", "scores", "nodes"}
URL_SCHEMES = ("postgresql://", "postgres://")

# What to do when a write fails, by a phrase of the error (SQLite's, PostgreSQL's); "" otherwise.
FAILURE_HINTS = {
    "full": "free space on its disk and rerun the command (finished model calls are cached)",
    "locked": "another process held its write lock past the busy timeout; rerun when it is done",
    "lock timeout": "another process held its write lock past the lock timeout; rerun when it is "
    "done",
    "": "check the store and rerun the command (finished model calls are cached)",
}

FINISHED = "finished"
WITH_FAILURES = "finished_with_failures"
INTERRUPTED = "interrupted"
DONE = (FINISHED, WITH_FAILURES)  # runs with metrics


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
    comparability: dict | None = None  # what must match for two runs' numbers to be compared
    n_total: int | None = None  # units the metrics could be over (items, or judgments)
    n_failed: int | None = None  # of those, how many had no score
    versions: dict = field(default_factory=dict)  # python and the packages that score
    breakdown: dict = field(default_factory=dict)  # the suite's per-category/instruction numbers
    notes: list[str] = field(default_factory=list)  # what the metrics are over, judge cost, ...
    unit: str = "items"  # what n_total and n_failed count

    @property
    def complete(self) -> bool:
        """Finished on every item of the suite's data with nothing failed."""
        key = self.comparability or {}
        return (
            self.status == FINISHED
            and not self.n_failed
            and key.get("n_items") is not None
            and key.get("n_items") == key.get("n_data")
        )


def is_url(location: str | Path | None) -> bool:
    """A PostgreSQL store's URL, as opposed to a SQLite file's path."""
    return str(location or "").startswith(URL_SCHEMES)


def store_location(text: str) -> str | Path:
    """`--store`'s value: a URL kept as given (a Path would fold its `//`), else a file path."""
    return text if is_url(text) else Path(text)


def shown(location: str | Path | None) -> str | Path | None:
    """A store's location fit to print or record: a URL's password masked."""
    return redact_url(str(location)) if is_url(location) else location


class SQLite:
    """The store's seams in SQLite: the connection and its write lock, the marker, how rows keep
    their order. `harness.store_pg.Postgres` is the same for PostgreSQL."""

    KIND = "SQLite"  # shown in errors
    NEW = "file"  # what to pass instead of a foreign database
    REAL = "REAL"
    SEQ = ""  # no column: the rowid keeps the order rows were written in
    ORDER = "rowid"
    ADOPTS_UNMARKED = True  # stores from before the marker existed gain it when opened
    ERRORS: tuple[type[BaseException], ...] = (sqlite3.DatabaseError, OSError)

    def __init__(self, location: str | Path, timeout: float):
        self.path, self.timeout = Path(location), timeout
        if self.path.is_dir():
            raise HarnessError(f"store {self.path} is a directory; pass --store with a file path")

    def connect(self) -> sqlite3.Connection:
        """The file is only ever opened by SQLite: closing any other descriptor of it drops every
        lock this process holds on it (POSIX), and another process closing the store would then
        take itself for the last user and delete the WAL under our writes. So SQLite reads the
        header too: a file that is not a database is refused, unwritten."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # used from the caching loop's writer thread too (`harness.cache`), never at once
        self.db = sqlite3.connect(
            self.path, timeout=self.timeout, isolation_level=None, check_same_thread=False
        )
        try:
            self.db.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            self.db.execute("PRAGMA schema_version")  # reads the header
        except sqlite3.DatabaseError as e:
            self.db.close()
            if e.sqlite_errorcode != sqlite3.SQLITE_NOTADB:
                raise
            raise HarnessError(
                f"store {self.path} is not a SQLite database; pass --store with another path"
            ) from None
        return self.db

    def configure(self) -> None:
        """After the store is claimed: these write to the file, so a damaged file is refused
        first (`quick_check`: every page's structure; about 0.2 s per 100 MB, once per command).
        Switching a file to WAL takes its exclusive lock, which SQLite may refuse at once
        ("database is locked") instead of waiting, while other processes open the same new
        store: that is tried again until the busy timeout."""
        found = self.db.execute("PRAGMA quick_check(1)").fetchone()[0]
        if found != "ok":
            raise sqlite3.DatabaseError(f"the file is damaged ({' '.join(found.split())})")
        deadline = time.monotonic() + self.timeout
        while True:
            try:
                self.db.execute("PRAGMA journal_mode=WAL")
                break
            except sqlite3.OperationalError as e:
                if e.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        self.db.execute("PRAGMA synchronous=NORMAL")

    def mark(self) -> int:
        """The database's marker: APPLICATION_ID in ours, 0 in one without any."""
        return self.db.execute("PRAGMA application_id").fetchone()[0]

    def write_mark(self, db, marker: int) -> None:
        db.execute(f"PRAGMA application_id={marker}")

    def tables(self) -> set[str]:
        rows = self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")
        return {r[0] for r in rows if not r[0].startswith("sqlite_")}

    def columns(self, table: str) -> set[str]:
        return {r[1] for r in self.db.execute(f"PRAGMA table_info({table})")}

    def cannot_open(self, e: BaseException) -> str:
        return f"cannot open store {self.path}: {e}; pass --store with a writable SQLite file"

    @contextmanager
    def transaction(self, lock: int) -> Iterator[sqlite3.Connection]:
        """BEGIN IMMEDIATE takes the write lock up front, so concurrent writers queue, not fail."""
        self.db.execute("BEGIN IMMEDIATE")
        try:
            yield self.db
        except BaseException:
            if self.db.in_transaction:  # SQLite rolled back already on some errors (disk full)
                self.db.execute("ROLLBACK")
            raise
        self.db.execute("COMMIT")

    def close(self) -> None:
        self.db.close()


def _backend(location: str | Path, timeout: float):
    """SQLite for a path; for a `postgresql://` URL, PostgreSQL (psycopg is imported only then)."""
    if not is_url(location):
        return SQLite(location, timeout)
    try:
        from harness.store_pg import Postgres
    except ImportError as e:
        if not (e.name or "").startswith("psycopg"):
            raise
        raise HarnessError(
            f"store {shown(location)} is a PostgreSQL URL, which needs psycopg: "
            "pip install -e .[postgres]"
        ) from None
    return Postgres(str(location), timeout)


class Store:
    """The store at `location`: a SQLite file (created on first use), or a database at a
    `postgresql://` URL. One SQL for both; `self.backend` (`SQLite`, `store_pg.Postgres`) is
    what differs. `path` is the location as it may be shown: a URL's password masked."""

    def __init__(self, location: str | Path, timeout: float = 120.0):
        self.backend = b = _backend(location, timeout)
        self.path = b.path
        try:
            self.db = b.connect()
            self._claim()
            b.configure()
            with self.transaction() as db:
                for statement in filter(str.strip, SCHEMA.split(";")):
                    db.execute(statement.format(real=b.REAL, seq=b.SEQ))
                have = b.columns("runs")
                for column, kind in RUN_COLUMNS.items():
                    if column not in have:
                        db.execute(f"ALTER TABLE runs ADD COLUMN {column} {kind}")
                b.write_mark(db, APPLICATION_ID)
            self._mark_interrupted()
        except b.ERRORS as e:
            raise HarnessError(b.cannot_open(e)) from None
        except StoreError as e:
            raise HarnessError(b.cannot_open(e.__cause__)) from None

    def _claim(self) -> None:
        """Refuse a database that is not ours, untouched: another application's marker, or tables
        of its own and no marker. Tables are read before the marker: a harness writer creating
        the store meanwhile commits both at once, so tables seen imply its marker is seen too."""
        tables = self.backend.tables()
        mark = self.backend.mark()
        if mark == APPLICATION_ID:
            return
        ours = self.backend.ADOPTS_UNMARKED and "runs" in tables and tables <= TABLES
        if mark != 0 or (tables and not ours):
            self.close()
            raise HarnessError(
                f"{self.path} is a {self.backend.KIND} database of another application, not a "
                f"harness store; pass --store with a new {self.backend.NEW} or an existing "
                "harness store"
            )

    @contextmanager
    def transaction(self):
        """A write transaction: it takes the store's write lock first, so concurrent writers
        (processes, machines) queue instead of failing; all of it lands, or none. A store that
        cannot take it (disk full, lock held past the timeout, server gone) is a StoreError."""
        try:
            with self.backend.transaction(APPLICATION_ID) as db:
                yield db
        except self.backend.ERRORS as e:
            reason = " ".join(str(e).split())
            hint = next((h for k, h in FAILURE_HINTS.items() if k in reason), FAILURE_HINTS[""])
            raise StoreError(f"store {self.path}: {reason}; {hint}") from e

    def close(self) -> None:
        self.backend.close()

    def _insert(self, db, table: str, rows: Iterable[tuple], replace: bool = False) -> None:
        """Insert rows of COLUMNS[table]; a key already present is kept, or with `replace`
        updated. One statement for both backends (an upsert)."""
        columns = COLUMNS[table]
        key, rest = columns[: KEYS[table]], columns[KEYS[table] :]
        conflict = (
            f"({', '.join(key)}) DO UPDATE SET {', '.join(f'{c}=excluded.{c}' for c in rest)}"
            if replace
            else "DO NOTHING"
        )
        db.executemany(
            f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({','.join('?' * len(columns))}) "
            f"ON CONFLICT {conflict}",
            rows,
        )

    def _mark_interrupted(self) -> None:
        """A run still 'running' whose process on this host is gone was killed: say so."""
        host = socket.gethostname()
        rows = self.db.execute(
            "SELECT id, pid FROM runs WHERE status='running' AND host=? AND pid IS NOT NULL",
            (host,),
        ).fetchall()
        gone = [run_id for run_id, pid in rows if not _alive(pid)]
        if gone:
            with self.transaction() as db:
                db.executemany(
                    "UPDATE runs SET status=? WHERE id=? AND status='running'",
                    [(INTERRUPTED, run_id) for run_id in gone],
                )

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

    def put_generations(self, rows: list[dict], replace: bool = False) -> None:
        """Insert generations; a key already present (another process got there first) is kept,
        unless `replace` (a --refresh run regenerates on purpose)."""
        now = time.time()
        with self.transaction() as db:
            self._insert(
                db,
                "generations",
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
                replace=replace,
            )

    # -- judgments ---------------------------------------------------------------------------
    def get_judgments(self, keys: Iterable[str]) -> dict[str, dict]:
        """Verdicts to reuse, by key: failed judgments are kept for inspection, never returned."""
        keys = list(keys)
        found: dict[str, dict] = {}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            rows = self.db.execute(
                "SELECT key, status, output, parsed, error, prompt_tokens, completion_tokens "
                f"FROM judgments WHERE key IN ({','.join('?' * len(chunk))}) AND status='ok'",
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
            self._insert(
                db,
                "judgments",
                [
                    (
                        r["key"],
                        r["judge_fingerprint"],
                        json.dumps(r["request"], ensure_ascii=False),
                        r["status"],
                        r.get("output"),
                        json.dumps(r["parsed"]) if r.get("parsed") is not None else None,
                        redact(r.get("error")),
                        r.get("prompt_tokens"),
                        r.get("completion_tokens"),
                        now,
                    )
                    for r in rows
                ],
                replace=True,
            )

    # -- runs and scores ---------------------------------------------------------------------
    def start_run(
        self,
        suite: str,
        model: str,
        fingerprint: str | None,
        config: dict,
        comparability: dict | None = None,
        versions: dict | None = None,
    ) -> str:
        run_id = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}"
        with self.transaction() as db:
            db.execute(
                "INSERT INTO runs (id, suite, model, model_fingerprint, config, status, "
                "started_at, comparability, pid, host, versions) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                (
                    run_id,
                    suite,
                    model,
                    fingerprint,
                    json.dumps(config),
                    "running",
                    time.time(),
                    json.dumps(comparability) if comparability is not None else None,
                    os.getpid(),
                    socket.gethostname(),
                    json.dumps(versions or {}),
                ),
            )
        return run_id

    def finish_run(
        self,
        run_id: str,
        metrics: dict | None,
        records: list[dict],
        total: int = 0,
        failed: int = 0,
        *,
        breakdown: dict | None = None,
        notes: list[str] = (),
        unit: str = "items",
        error: str | None = None,
    ) -> str:
        """The run's whole record lands at once, or not at all: per-item records, metrics, what
        they are over, breakdown and notes. `error`: nothing could be scored (the records are
        kept, with their reasons; no metrics). Returns the run's final status."""
        if error:
            status, metrics = f"failed: {redact(error)}"[:500], None
        else:
            status = WITH_FAILURES if failed else FINISHED
        with self.transaction() as db:
            self._insert(
                db,
                "scores",
                ((run_id, str(r["id"]), json.dumps(r, ensure_ascii=False)) for r in records),
                replace=True,
            )
            db.execute(
                "UPDATE runs SET status=?, metrics=?, finished_at=?, n_total=?, n_failed=?, "
                "breakdown=?, notes=?, unit=? WHERE id=?",
                (
                    status,
                    None if metrics is None else json.dumps(metrics),
                    time.time(),
                    total,
                    failed,
                    json.dumps(breakdown or {}, ensure_ascii=False),
                    json.dumps([redact(n) for n in notes], ensure_ascii=False),
                    unit,
                    run_id,
                ),
            )
        return "failed" if error else status

    def fail_run(self, run_id: str, reason: str) -> None:
        status = INTERRUPTED if reason == INTERRUPTED else f"failed: {redact(reason)}"[:500]
        with self.transaction() as db:
            db.execute(
                "UPDATE runs SET status=?, finished_at=? WHERE id=?", (status, time.time(), run_id)
            )

    def runs(
        self,
        suite: str | None = None,
        model: str | None = None,
        finished_only: bool = True,
        run_id: str | None = None,
    ) -> list[Run]:
        """Runs oldest first; by default those with metrics (finished, with or without failures)."""
        sql, args = (
            "SELECT id, suite, model, model_fingerprint, config, status, metrics, started_at, "
            "finished_at, comparability, n_total, n_failed, versions, breakdown, notes, unit "
            "FROM runs WHERE 1=1",
            [],
        )
        if suite:
            sql, args = sql + " AND suite=?", [*args, suite]
        if model:
            sql, args = sql + " AND model=?", [*args, model]
        if run_id:
            sql, args = sql + " AND id=?", [*args, run_id]
        if finished_only:
            sql += f" AND status IN ({','.join('?' * len(DONE))})"
            args += list(DONE)
        rows = self.db.execute(sql + f" ORDER BY started_at, {self.backend.ORDER}", args).fetchall()
        return [
            Run(
                *r[:4],
                json.loads(r[4]),
                r[5],
                json.loads(r[6]) if r[6] else None,
                r[7],
                r[8],
                json.loads(r[9]) if r[9] else None,
                r[10],
                r[11],
                *(json.loads(v) if v else empty for v, empty in zip(r[12:15], ({}, {}, []))),
                r[15] or "items",
            )
            for r in rows
        ]

    def run(self, run_id: str) -> Run | None:
        found = self.runs(finished_only=False, run_id=run_id)
        return found[0] if found else None

    def latest_run(self, suite: str, model: str) -> Run | None:
        runs = self.runs(suite=suite, model=model)
        return runs[-1] if runs else None

    def scores(self, run_id: str) -> list[dict]:
        rows = self.db.execute(
            f"SELECT record FROM scores WHERE run_id=? ORDER BY {self.backend.ORDER}", (run_id,)
        )
        return [json.loads(r[0]) for r in rows]

    def log(self, run_id: str) -> dict:
        """The run's full record, as `--output` writes it: settings, versions, status, metrics
        and what they are over, breakdown, notes and every per-item record."""
        run = self.run(run_id)
        if run is None:
            raise HarnessError(f"run {run_id!r} is not in {self.path}")
        return {
            "run_id": run.id,
            "status": run.status,
            "config": run.config,
            "versions": run.versions,
            "metrics": run.metrics,
            "over": {"total": run.n_total, "failed": run.n_failed, "unit": run.unit},
            "breakdown": run.breakdown,
            "notes": run.notes,
            "records": self.scores(run_id),
        }

    # -- experiment nodes ----------------------------------------------------------------------
    def get_node(self, key: str) -> dict | None:
        """A finished experiment step's record (`experiments`: content-addressed by its inputs)."""
        row = self.db.execute("SELECT record FROM nodes WHERE key=?", (key,)).fetchone()
        return json.loads(row[0]) if row else None

    def put_node(self, key: str, kind: str, record: dict) -> None:
        """Mark a step done; the first record for a key wins (two workers may finish the same step)."""
        with self.transaction() as db:
            self._insert(
                db, "nodes", [(key, kind, json.dumps(record, sort_keys=True), time.time())]
            )

    def count(self, table: str) -> int:
        if table not in TABLES:
            raise ValueError(table)
        return self.db.execute(f"SELECT COUNT(*) FROM {table}").fetchone()[0]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # PermissionError: someone else's process, alive
    except ProcessLookupError:
        return False
    except PermissionError:
        pass
    return True


def open_store(location: str | Path) -> Store:
    """Open a store: a `postgresql://` URL, or a file, refused when it exists but is not a SQLite
    database (left untouched: `SQLite.connect`)."""
    return Store(location)
