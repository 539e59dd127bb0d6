"""Database engine, Alembic migrations to head at start, and sessions."""

from __future__ import annotations

import hashlib
import logging
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, Table, create_engine, event, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import ArgumentError, SQLAlchemyError
from sqlalchemy.pool import NullPool
from sqlmodel import Session

from cloud_sync.errors import ConfigError

log = logging.getLogger(__name__)
MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def now_ms() -> int:
    """Wall time in integer milliseconds (UTC epoch)."""
    return int(time.time() * 1000)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # The driver's own transaction handling is switched off so that BEGIN IMMEDIATE below is the only one.
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


def _sqlite_begin(connection: Any) -> None:
    # Read-then-write transactions from several threads would fail with SQLITE_BUSY on upgrade;
    # taking the write lock up front serialises them instead.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def create_db_engine(url: str) -> Engine:
    """An engine for SQLite or PostgreSQL (postgresql+psycopg://); ConfigError for anything else."""
    try:
        if url.startswith("sqlite"):
            path = url.split("///", 1)[1] if "///" in url else ""
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 10}, poolclass=NullPool)
            event.listen(engine, "connect", _sqlite_pragmas)
            event.listen(engine, "begin", _sqlite_begin)
            return engine
        if url.startswith("postgresql"):
            return create_engine(url, pool_pre_ping=True, pool_size=5, max_overflow=10)
    except (ArgumentError, ImportError, OSError) as exc:
        raise ConfigError(f"database_url {redact(url)}: {exc}") from exc
    raise ConfigError(f"database_url {redact(url)}: use sqlite:///PATH or postgresql+psycopg://USER@HOST/DB")


def redact(url: str) -> str:
    """The URL with any password replaced, for logs and messages."""
    scheme, sep, rest = url.partition("://")
    if "@" in rest and ":" in rest.split("@", 1)[0]:
        user = rest.split("@", 1)[0].split(":", 1)[0]
        return f"{scheme}{sep}{user}:***@{rest.split('@', 1)[1]}"
    return url


def lock_key(name: str) -> int:
    """A stable signed 64-bit key for PostgreSQL advisory locks (every replica computes the same one)."""
    return int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)


def advisory_lock(connection: Connection, name: str) -> None:
    """Hold a transaction-scoped lock on name until commit/rollback (PostgreSQL; SQLite serialises writers anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": lock_key(name)})


def try_advisory_lock(connection: Connection, name: str) -> bool:
    """Take the transaction-scoped lock on name if no one holds it; False when another replica does."""
    if connection.dialect.name != "postgresql":
        return True
    return bool(connection.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": lock_key(name)}).scalar())


def migrate(engine: Engine) -> None:
    """Bring the schema to the newest Alembic revision (a no-op when it is current)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    try:
        with engine.begin() as connection:
            # replicas and gunicorn workers starting together would otherwise race to create the same tables
            advisory_lock(connection, "cloud-sync:migrate")
            config.attributes["connection"] = connection
            command.upgrade(config, "head")
    except SQLAlchemyError as exc:
        raise ConfigError(f"database {redact(str(engine.url))}: migration failed ({exc})") from exc
    log.info("database schema at head (%s)", redact(engine.url.render_as_string(hide_password=True)))


def dialect_insert(db: Session, table: Table) -> Any:
    """INSERT in the session's dialect, which knows ON CONFLICT and RETURNING (SQLite and PostgreSQL both do)."""
    if db.get_bind().dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def session(engine: Engine) -> Session:
    """A new session; use it as a context manager and commit explicitly."""
    return Session(engine, expire_on_commit=False)
