"""The cache's SQLite store, safe for many processes writing at once.

WAL journal (readers never block the writer), a generous ``busy_timeout``, one short
``BEGIN IMMEDIATE`` transaction per episode, and counters changed only by
``UPSERT``/``UPDATE ... SET n = n + 1`` so concurrent increments never lose a count.

Eviction rule (see README): after a failure an entry is evicted when
``failures >= successes`` or it has failed twice in a row. Eviction is sticky: an
evicted entry is never replayed again, even if later episodes succeed with it
(``halo cache clear`` starts over).
"""

from __future__ import annotations

import json
import os
import sqlite3
import threading
import time
from pathlib import Path
from typing import Any, Iterable, Iterator

import attrs

SCHEMA_VERSION = 1
CONSECUTIVE_FAILURES_TO_EVICT = 2

_SCHEMA = """
CREATE TABLE IF NOT EXISTS entries (
    scope TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    action_key TEXT NOT NULL,
    example_action TEXT NOT NULL,
    verb TEXT NOT NULL,
    page_url TEXT NOT NULL DEFAULT '',
    successes INTEGER NOT NULL DEFAULT 0,
    failures INTEGER NOT NULL DEFAULT 0,
    consecutive_failures INTEGER NOT NULL DEFAULT 0,
    hits INTEGER NOT NULL DEFAULT 0,
    evicted INTEGER NOT NULL DEFAULT 0,
    created REAL NOT NULL,
    updated REAL NOT NULL,
    last_task TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (scope, fingerprint, action_key)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
"""


@attrs.frozen
class Candidate:
    """An executed action in a state: what an episode's outcome is credited to."""

    scope: str
    fingerprint: str
    action_key: str
    example_action: str
    verb: str
    page_url: str = ""
    task_id: str = ""


@attrs.frozen
class Entry:
    scope: str
    fingerprint: str
    action_key: str
    example_action: str
    verb: str
    page_url: str
    successes: int
    failures: int
    consecutive_failures: int
    hits: int
    evicted: bool
    created: float
    updated: float
    last_task: str

    @property
    def verified(self) -> bool:
        return self.successes >= 1 and not self.evicted

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self)


class CorruptCacheError(RuntimeError):
    """The cache file is not a readable HALO cache (damaged, or another kind of file)."""


@attrs.frozen
class Outcome:
    promoted: int = 0
    failed: int = 0
    evicted: int = 0


class VacStore:
    """One process's handle on a cache file. Not shared across ``fork``: get one per
    process with :func:`open_store`."""

    def __init__(self, path: str | os.PathLike, *, timeout_s: float = 60.0) -> None:
        self.path = Path(path)
        try:
            self._open(timeout_s)
        except sqlite3.DatabaseError as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise
            raise CorruptCacheError(
                f"cache file {self.path} is damaged or not a HALO cache ({exc}); run `halo cache clear "
                f"--path {self.path}` to start a new one (HALO moves a damaged cache aside during runs)") from None

    def _open(self, timeout_s: float) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._conn = sqlite3.connect(str(self.path), timeout=timeout_s, isolation_level=None,
                                     check_same_thread=False)
        self._lock = threading.Lock()
        self._conn.execute(f"PRAGMA busy_timeout = {int(timeout_s * 1000)}")
        # Switching to WAL takes a lock; several processes opening a new file at once may race.
        self._retry(lambda: self._conn.execute("PRAGMA journal_mode=WAL"))
        self._conn.execute("PRAGMA synchronous=NORMAL")
        with self._write() as cur:
            for statement in _SCHEMA.strip().split(";"):
                if statement.strip():
                    cur.execute(statement)
            cur.execute("INSERT OR IGNORE INTO meta(key, value) VALUES ('schema_version', ?)", (str(SCHEMA_VERSION),))

    @staticmethod
    def _retry(fn, attempts: int = 50):
        for i in range(attempts):
            try:
                return fn()
            except sqlite3.OperationalError as exc:
                if "locked" not in str(exc) and "busy" not in str(exc) or i == attempts - 1:
                    raise
                time.sleep(0.02 * (i + 1))

    class _Tx:
        def __init__(self, store: VacStore) -> None:
            self.store = store

        def __enter__(self) -> sqlite3.Cursor:
            self.store._lock.acquire()
            self.cur = self.store._conn.cursor()
            try:
                VacStore._retry(lambda: self.cur.execute("BEGIN IMMEDIATE"))
            except BaseException:
                self.store._lock.release()
                raise
            return self.cur

        def __exit__(self, exc_type, exc, tb) -> None:
            try:
                if exc_type is None:
                    VacStore._retry(lambda: self.cur.execute("COMMIT"))
                else:
                    self.cur.execute("ROLLBACK")
            finally:
                self.store._lock.release()

    def _write(self) -> VacStore._Tx:
        return VacStore._Tx(self)

    def close(self) -> None:
        self._conn.close()

    # ------------------------------------------------------------------ reads

    def lookup(self, scope: str, fingerprint: str) -> list[Entry]:
        """Verified, non-evicted entries for this state, most trusted first."""
        rows = self._conn.execute(
            "SELECT * FROM entries WHERE scope = ? AND fingerprint = ? AND evicted = 0 AND successes >= 1 "
            "ORDER BY successes - failures DESC, successes DESC, hits DESC, updated DESC",
            (scope, fingerprint),
        ).fetchall()
        return [_entry(r) for r in rows]

    def get(self, scope: str, fingerprint: str, action_key: str) -> Entry | None:
        row = self._conn.execute("SELECT * FROM entries WHERE scope = ? AND fingerprint = ? AND action_key = ?",
                                 (scope, fingerprint, action_key)).fetchone()
        return _entry(row) if row else None

    def entries(self) -> Iterator[Entry]:
        for row in self._conn.execute("SELECT * FROM entries ORDER BY scope, fingerprint, action_key"):
            yield _entry(row)

    def stats(self) -> dict[str, Any]:
        row = self._conn.execute(
            "SELECT COUNT(*), COALESCE(SUM(successes >= 1 AND evicted = 0), 0), COALESCE(SUM(evicted), 0), "
            "COALESCE(SUM(hits), 0), COALESCE(SUM(successes), 0), COALESCE(SUM(failures), 0), "
            "COUNT(DISTINCT scope) FROM entries").fetchone()
        keys = ("entries", "verified", "evicted", "hits", "successes", "failures", "scopes")
        return {"path": str(self.path), **dict(zip(keys, (int(v) for v in row)))}

    def integrity_check(self) -> str:
        return self._conn.execute("PRAGMA integrity_check").fetchone()[0]

    # ------------------------------------------------------------------ writes

    def record(self, *, promote: Iterable[Candidate] = (), fail: Iterable[Candidate] = (),
               hits: Iterable[tuple[str, str, str]] = ()) -> Outcome:
        """Apply one episode's outcome in a single transaction.

        ``promote``: actions of a successful episode whose postconditions held (success + 1,
        created if new). ``fail``: actions that failed, or belonged to a failed episode;
        counted only against entries that exist (nothing unverified is ever inserted by a
        failure). ``hits``: (scope, fingerprint, action_key) of replays, one per replay.
        """
        now = time.time()
        promoted = failed = evicted = 0
        with self._write() as cur:
            for c in promote:
                cur.execute(
                    "INSERT INTO entries(scope, fingerprint, action_key, example_action, verb, page_url, successes,"
                    " created, updated, last_task) VALUES (?, ?, ?, ?, ?, ?, 1, ?, ?, ?) "
                    "ON CONFLICT(scope, fingerprint, action_key) DO UPDATE SET successes = successes + 1,"
                    " consecutive_failures = 0, updated = excluded.updated, last_task = excluded.last_task,"
                    " example_action = excluded.example_action",
                    (c.scope, c.fingerprint, c.action_key, c.example_action, c.verb, c.page_url, now, now, c.task_id))
                promoted += 1
            for c in fail:
                before = cur.execute("SELECT evicted FROM entries WHERE scope = ? AND fingerprint = ? AND action_key = ?",
                                     (c.scope, c.fingerprint, c.action_key)).fetchone()
                if before is None:
                    continue
                (now_evicted,) = cur.execute(
                    "UPDATE entries SET failures = failures + 1, consecutive_failures = consecutive_failures + 1,"
                    " updated = ?, last_task = ?,"
                    " evicted = CASE WHEN evicted = 1 OR failures + 1 >= successes"
                    f" OR consecutive_failures + 1 >= {CONSECUTIVE_FAILURES_TO_EVICT} THEN 1 ELSE 0 END"
                    " WHERE scope = ? AND fingerprint = ? AND action_key = ? RETURNING evicted",
                    (now, c.task_id, c.scope, c.fingerprint, c.action_key)).fetchone()
                failed += 1
                evicted += int(now_evicted and not before[0])
            for scope, fingerprint, key in hits:
                cur.execute("UPDATE entries SET hits = hits + 1 WHERE scope = ? AND fingerprint = ? AND action_key = ?",
                            (scope, fingerprint, key))
        return Outcome(promoted, failed, evicted)

    def clear(self) -> int:
        with self._write() as cur:
            n = cur.execute("SELECT COUNT(*) FROM entries").fetchone()[0]
            cur.execute("DELETE FROM entries")
        return int(n)

    def export_jsonl(self, out: str | os.PathLike) -> int:
        """Write every entry as one JSON line, known secrets redacted (an export leaves the
        cache; the store itself keeps the actions it replays as they were)."""
        from halo_core.api import write_redacted

        lines = [json.dumps(entry.to_dict(), ensure_ascii=False) + "\n" for entry in self.entries()]
        write_redacted(out, "".join(lines))
        return len(lines)


def _entry(row: tuple) -> Entry:
    (scope, fingerprint, key, example, verb, url, succ, fail, consec, hits, evicted, created, updated, task) = row
    return Entry(scope, fingerprint, key, example, verb, url, succ, fail, consec, hits, bool(evicted),
                 created, updated, task)


_STORES: dict[tuple[str, int], VacStore] = {}
_STORES_LOCK = threading.Lock()


def open_store(path: str | os.PathLike, *, quarantine: bool = False) -> VacStore:
    """The store for ``path`` in this process (one connection per file per process).

    With ``quarantine``, a damaged file is renamed to ``<name>.corrupt-<time>`` (kept for
    inspection, never deleted) and a new cache starts in its place.
    """
    key = (str(Path(path).resolve()), os.getpid())
    with _STORES_LOCK:
        store = _STORES.get(key)
        if store is None:
            try:
                store = VacStore(path)
            except CorruptCacheError:
                if not quarantine:
                    raise
                moved = quarantine_file(Path(path))
                store = VacStore(path)
                store.quarantined = moved
            _STORES[key] = store
        return store


def quarantine_file(path: Path) -> Path:
    """Move a damaged cache (and its WAL files) aside; returns where it went."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d_%H%M%S')}-{os.getpid()}")
    for suffix in ("", "-wal", "-shm"):
        source = Path(str(path) + suffix)
        if source.exists():
            source.replace(Path(str(target) + suffix))
    return target


def forget_stores() -> None:
    """Close every cached connection (tests, and after ``halo cache clear`` elsewhere)."""
    with _STORES_LOCK:
        for store in _STORES.values():
            try:
                store.close()
            except Exception:
                pass
        _STORES.clear()
