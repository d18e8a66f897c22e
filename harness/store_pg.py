"""The store's PostgreSQL backend, for runs on several machines that share one store
(`--store postgresql://user:pass@host:port/db`).

`harness.store.Store` holds the tables, the SQL and the guarantees; this is only where PostgreSQL
differs from SQLite (`harness.store.SQLite`, the same methods):
- each write transaction first takes one advisory lock (`pg_advisory_xact_lock`), so writers on
  any machine queue as SQLite's `BEGIN IMMEDIATE` makes them: no deadlock, no serialization
  failure to retry, and upserts of the same keys never duplicate a row;
- the marker is a row of `harness_meta` (SQLite: `PRAGMA application_id`); a database with tables
  and no marker is another application's and is refused untouched (there are no unmarked older
  PostgreSQL stores to adopt);
- floats are DOUBLE PRECISION (PostgreSQL's REAL has 4 bytes), and a `seq` column keeps the order
  rows were written in (SQLite: the rowid); tables and columns come from information_schema;
- the URL's password is masked wherever the store is named (`path`, every error), however it
  is written; one whose user name or password is not percent-encoded is refused before libpq
  reads it (libpq would take part of the password for the host or port);
- a connection the server dropped while idle is opened again for the next statement outside a
  transaction (a run waits on its model for hours between writes);
- PostgreSQL text cannot hold NUL, which a model's reply may contain: strings are written with
  NUL and U+0001 escaped, and read back unescaped (`_NulSafeStr`, `_NulSafeText`).
psycopg is imported only when a URL is opened: `pip install -e .[postgres]`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from urllib.parse import unquote

import psycopg
from psycopg.types.string import StrDumperUnknown, TextLoader

from harness.errors import HarnessError
from harness.redact import MASK, redact, redact_url, url_password, well_formed_userinfo

META = "harness_meta"


class Postgres:
    """The database at a `postgresql://` (or `postgres://`) URL."""

    KIND = "PostgreSQL"  # shown in errors
    NEW = "database"  # what to pass instead of a foreign database
    REAL = "DOUBLE PRECISION"
    SEQ = ", seq BIGSERIAL"
    ORDER = "seq"
    ADOPTS_UNMARKED = False
    ERRORS = (psycopg.Error,)

    def __init__(self, url: str, timeout: float):
        self._url, self.timeout, self.path = url, timeout, redact_url(url)
        password = url_password(url) or ""
        self.hidden = [p for p in {password, unquote(password)} if p]  # masked in errors
        if not well_formed_userinfo(url):  # libpq would read another host, port or password
            raise HarnessError(
                f"store URL {self.path} is malformed: percent-encode the user name and password "
                "(/ as %2F, @ as %40, % as %25)"
            )

    def connect(self) -> _Connection:
        def connect() -> psycopg.Connection:
            conn = psycopg.connect(
                self._url, autocommit=True, connect_timeout=10, application_name="ecd-harness"
            )
            conn.adapters.register_dumper(str, _NulSafeStr)
            conn.adapters.register_loader("text", _NulSafeText)
            # how long a writer waits for the write lock (SQLite: the busy timeout)
            conn.execute("SELECT set_config('lock_timeout', %s, false)", (f"{int(self.timeout)}s",))
            return conn

        self.db = _Connection(connect)
        return self.db

    def configure(self) -> None:
        pass

    def mark(self) -> int:
        """The database's marker: APPLICATION_ID in ours, 0 in one without any."""
        if self.db.execute("SELECT to_regclass(?)", (META,)).fetchone()[0] is None:
            return 0
        row = self.db.execute(f"SELECT value FROM {META} WHERE key='application_id'").fetchone()
        if row is None:
            return 0
        return int(row[0]) if row[0].isdigit() else -1

    def write_mark(self, db, marker: int) -> None:
        db.execute(f"CREATE TABLE IF NOT EXISTS {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        db.execute(
            f"INSERT INTO {META} (key, value) VALUES ('application_id', ?) ON CONFLICT DO NOTHING",
            (str(marker),),
        )

    def tables(self) -> set[str]:
        rows = self.db.execute(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
        )
        return {r[0] for r in rows}

    def columns(self, table: str) -> set[str]:
        rows = self.db.execute(
            "SELECT column_name FROM information_schema.columns "
            "WHERE table_schema = current_schema() AND table_name = ?",
            (table,),
        )
        return {r[0] for r in rows}

    def cannot_open(self, e: BaseException) -> str:
        reason = " ".join(str(e).split())  # libpq's messages span lines
        for secret in self.hidden:
            reason = reason.replace(secret, MASK)
        return (
            f"cannot open store {self.path}: {redact(reason)}; check that the server is running "
            "and the host, port, user, password and database in the URL (--store or "
            "$ECD_HARNESS_STORE)"
        )

    @contextmanager
    def transaction(self, lock: int) -> Iterator[_Connection]:
        """Taking the advisory lock `lock` first, writers queue, as behind SQLite's write lock."""
        self.db.execute("BEGIN")
        self.db.in_transaction = True
        try:
            self.db.execute("SELECT pg_advisory_xact_lock(?)", (lock,))
            yield self.db
        except BaseException:
            if not self.db.conn.broken:
                self.db.execute("ROLLBACK")
            raise
        else:
            self.db.execute("COMMIT")
        finally:
            self.db.in_transaction = False

    def close(self) -> None:
        self.db.conn.close()


class _Connection:
    """A psycopg connection that takes the store's SQL as written for sqlite3 (`?` placeholders,
    `execute` returning a cursor, `executemany`), and connects again when the server dropped it
    while no transaction was open (such a statement is repeated once; none inside one is)."""

    def __init__(self, connect):
        self._connect = connect
        self.conn = connect()
        self.in_transaction = False  # set by `Postgres.transaction`

    def execute(self, sql: str, args: Iterable | None = None) -> psycopg.Cursor:
        sql = sql.replace("?", "%s")
        if self.in_transaction:
            return self.conn.execute(sql, args)
        if self.conn.broken:  # a transaction's statement found it dropped
            self.conn = self._connect()
        try:
            return self.conn.execute(sql, args)
        except psycopg.OperationalError:
            if not self.conn.broken:
                raise
            self.conn = self._connect()
            return self.conn.execute(sql, args)

    def executemany(self, sql: str, rows: Iterable) -> None:
        with self.conn.cursor() as cursor:
            cursor.executemany(sql.replace("?", "%s"), rows)


_ESCAPED = re.compile("\x01([\x01\x02])")


class _NulSafeStr(StrDumperUnknown):
    """A string as PostgreSQL text can hold it: U+0001 doubled, then NUL as U+0001 U+0002 (the
    two characters no text a user reads has; any other string is sent as it is)."""

    def dump(self, obj: str):
        if "\x00" in obj or "\x01" in obj:
            obj = obj.replace("\x01", "\x01\x01").replace("\x00", "\x01\x02")
        return super().dump(obj)


class _NulSafeText(TextLoader):
    """Text as it was before `_NulSafeStr` escaped it."""

    def load(self, data):
        text = super().load(data)
        if isinstance(text, str) and "\x01" in text:
            return _ESCAPED.sub(lambda m: "\x01" if m[1] == "\x01" else "\x00", text)
        return text
