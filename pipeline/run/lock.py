"""One `run` or `simulate` at a time per output folder, and per metadata store and pipeline.

The output folder (which holds the SQLite store) is locked with the operating
system's file lock (flock) on OutputLayout.lock_file. A shared MySQL/MariaDB or
PostgreSQL store is locked with the database's own advisory lock, so that runs
on two machines sharing a store wait for each other too. Both kinds are
released by the operating system or the server when the holding process dies,
so a killed run never blocks the next one. Read-only commands never lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import datetime, timezone

from configs.settings import PipelineConfig
from pipeline.metadata.store import StoreError
from pipeline.shared.layout import OutputLayout

POLL_SECONDS = 0.5
MAINTENANCE_DATABASE = "postgres"
LOCK_NAMESPACE = "taxi-tfx-run"


@dataclass(frozen=True)
class Holder:
    """Who holds a lock: enough for a person to find the process."""

    pid: int
    host: str
    started: str
    command: str = ""

    @classmethod
    def this_process(cls, command: str) -> Holder:
        return cls(os.getpid(), socket.gethostname(),
                   datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC"), command)

    def describe(self) -> str:
        what = f" ({self.command})" if self.command else ""
        return f"pid {self.pid} on {self.host}, started {self.started}{what}"


class RunLockBusy(Exception):
    """Another run holds the lock; the message names it."""

    def __init__(self, resource: str, holder: str):
        super().__init__(f"another run is using {resource}: {holder}")
        self.resource, self.holder = resource, holder


class FolderLock:
    """flock on a file in the output folder; the file holds the holder's description."""

    def __init__(self, layout: OutputLayout):
        self.path = layout.lock_file
        self.fd: int | None = None

    def try_acquire(self, holder: Holder) -> str | None:
        """None when acquired; otherwise the current holder's description."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            text = os.pread(fd, 4096, 0).decode("utf-8", "replace")
            os.close(fd)
            with contextlib.suppress(ValueError, TypeError):
                return Holder(**json.loads(text)).describe()
            return "a process that has not yet written its name"
        # Never delete the file: a second process may already have it open.
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(asdict(holder)).encode("utf-8"), 0)
        self.fd = fd
        return None

    def release(self) -> None:
        if self.fd is not None:
            os.ftruncate(self.fd, 0)
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


def _lock_key(config: PipelineConfig) -> str:
    return f"{LOCK_NAMESPACE}:{config.metadata.database}:{config.pipeline_name}"


class PostgresLock:
    """pg_try_advisory_lock on a session of its own; the holder is told by application_name.

    Advisory locks belong to one database, and the metadata database may not
    exist yet (MLMD creates it), so every run locks in the server's maintenance
    database, `postgres`, under a key made of the metadata database and pipeline.
    """

    def __init__(self, config: PipelineConfig):
        self.config, self.connection = config, None
        digest = hashlib.sha256(_lock_key(config).encode()).digest()
        self.keys = (int.from_bytes(digest[:4], "big", signed=True),
                     int.from_bytes(digest[4:8], "big", signed=True))

    def try_acquire(self, holder: Holder) -> str | None:
        import psycopg2

        meta = self.config.metadata
        # PostgreSQL keeps 63 bytes of application_name.
        name = f"taxi-tfx pid {holder.pid} on {holder.host} since {holder.started}"[:63]
        try:
            connection = psycopg2.connect(
                host=meta.host, port=meta.port or 5432, dbname=MAINTENANCE_DATABASE,
                user=meta.user or "postgres", password=self.config.metadata_password(),
                application_name=name, connect_timeout=10)
        except psycopg2.Error as error:
            raise StoreError(f"cannot reach PostgreSQL at {meta.host} for the run lock: {error}") from None
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_try_advisory_lock(%s, %s)", self.keys)
            if cursor.fetchone()[0]:
                self.connection = connection
                return None
            cursor.execute("SELECT a.application_name FROM pg_locks l "
                           "JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory' "
                           "AND l.granted AND l.classid = %s::oid AND l.objid = %s::oid",
                           tuple(key & 0xFFFFFFFF for key in self.keys))
            row = cursor.fetchone()
        connection.close()
        return row[0] if row else "a session that has just released it"

    def release(self) -> None:
        if self.connection is not None:
            self.connection.close()  # the server releases a session's advisory locks
            self.connection = None


class MySqlLock:
    """GET_LOCK on a connection of its own; the holder is told by its connection and client address."""

    def __init__(self, config: PipelineConfig):
        self.config, self.connection = config, None
        # MySQL lock names are at most 64 characters.
        self.name = f"{LOCK_NAMESPACE}:{hashlib.sha256(_lock_key(config).encode()).hexdigest()[:40]}"

    def try_acquire(self, holder: Holder) -> str | None:
        import pymysql

        meta = self.config.metadata
        # Named locks are server-wide; no database is needed (and MLMD may not have created it yet).
        try:
            connection = pymysql.connect(host=meta.host, port=meta.port or 3306, user=meta.user or "root",
                                         password=self.config.metadata_password() or "", connect_timeout=10,
                                         program_name=f"taxi-tfx pid {holder.pid}")
        except pymysql.Error as error:
            raise StoreError(f"cannot reach MySQL at {meta.host} for the run lock: {error}") from None
        with connection.cursor() as cursor:
            cursor.execute("SELECT GET_LOCK(%s, 0)", (self.name,))
            if cursor.fetchone()[0] == 1:
                self.connection = connection
                return None
            cursor.execute("SELECT p.ID, p.HOST, p.TIME FROM information_schema.PROCESSLIST p "
                           "WHERE p.ID = IS_USED_LOCK(%s)", (self.name,))
            row = cursor.fetchone()
        connection.close()
        if not row:
            return "a connection that has just released it"
        since = datetime.fromtimestamp(time.time() - int(row[2]), tz=timezone.utc)
        return f"database connection {row[0]} from {row[1]}, holding it since {since:%Y-%m-%d %H:%M:%S} UTC"

    def release(self) -> None:
        if self.connection is not None:
            self.connection.close()  # the server releases a connection's named locks
            self.connection = None


def locks_for(config: PipelineConfig) -> list[tuple[str, object]]:
    """(what is locked, lock) pairs, in the order they are taken."""
    layout = OutputLayout.of(config)
    locks: list[tuple[str, object]] = [(f"the output folder {layout.root}", FolderLock(layout))]
    meta = config.metadata
    if meta.kind == "postgresql":
        locks.append((f"the metadata store postgresql://{meta.host}/{meta.database} for pipeline "
                      f"{config.pipeline_name}", PostgresLock(config)))
    elif meta.kind == "mysql":
        locks.append((f"the metadata store mysql://{meta.host}/{meta.database} for pipeline "
                      f"{config.pipeline_name}", MySqlLock(config)))
    return locks


@contextlib.contextmanager
def exclusive_run(config: PipelineConfig, command: str, wait_seconds: float = 0.0,
                  on_wait=lambda message: None) -> Iterator[None]:
    """Holds every lock of the config for the block; waits up to wait_seconds, else raises RunLockBusy."""
    holder = Holder.this_process(command)
    deadline = time.monotonic() + wait_seconds
    held: list = []
    told = False
    try:
        for resource, lock in locks_for(config):
            while (busy := lock.try_acquire(holder)) is not None:
                if time.monotonic() >= deadline:
                    raise RunLockBusy(resource, busy)
                if not told:
                    on_wait(f"waiting for {resource}: {busy}")
                    told = True
                time.sleep(POLL_SECONDS)
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()
