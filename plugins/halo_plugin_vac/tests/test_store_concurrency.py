"""Many processes, one cache file: nothing lost, nothing corrupted."""

from __future__ import annotations

import multiprocessing as mp
import sqlite3
import subprocess
import sys

from halo_plugin_vac import Candidate, VacStore

ROUNDS = 150
SHARED = 5


def _candidate(fingerprint: str, action: str, scope: str = "site:shop") -> Candidate:
    return Candidate(scope=scope, fingerprint=fingerprint, action_key=f'["click", "link", "{action}", 0, []]',
                     example_action="click('1')", verb="click", task_id="t")


def writer(path: str, worker_id: int, start) -> None:
    start.wait()  # all three begin together, so their transactions really interleave
    store = VacStore(path)
    for i in range(ROUNDS):
        shared = [_candidate(f"shared-{k}", "Go") for k in range(SHARED)]
        own = _candidate(f"own-{worker_id}-{i}", f"Item {i}")
        store.record(promote=shared + [own], hits=[("site:shop", f"shared-{i % SHARED}", shared[0].action_key)])
        if i % 10 == 0:
            store.record(fail=[_candidate(f"shared-{k}", "Go") for k in range(SHARED)])
    store.close()


def test_three_processes_write_one_cache(tmp_path):
    path = str(tmp_path / "vac.sqlite")
    ctx = mp.get_context("spawn")  # a fresh interpreter each: no inherited connection
    start = ctx.Event()
    procs = [ctx.Process(target=writer, args=(path, w, start)) for w in range(3)]
    for p in procs:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    store = VacStore(path)
    entries = {e.fingerprint: e for e in store.entries()}
    assert len(entries) == SHARED + 3 * ROUNDS
    for w in range(3):
        for i in range(ROUNDS):
            assert entries[f"own-{w}-{i}"].successes == 1
    fail_rounds = len(range(0, ROUNDS, 10))
    for k in range(SHARED):
        e = entries[f"shared-{k}"]
        assert e.successes == 3 * ROUNDS
        assert e.failures == 3 * fail_rounds
        assert e.hits == 3 * ROUNDS // SHARED
    assert store.integrity_check() == "ok"
    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


SCRIPT = """
import sys
from halo_plugin_vac import Candidate, VacStore
store = VacStore(sys.argv[1])
for i in range(100):
    c = Candidate(scope="goal:g", fingerprint="fp", action_key="k", example_action="noop()", verb="click")
    store.record(promote=[c], hits=[("goal:g", "fp", "k")])
"""


def test_independent_interpreters_increment_atomically(tmp_path):
    path = str(tmp_path / "new" / "vac.sqlite")  # three processes race to create the file, too
    procs = [subprocess.Popen([sys.executable, "-c", SCRIPT, path]) for _ in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    (entry,) = list(VacStore(path).entries())
    assert entry.successes == 300 and entry.hits == 300
    assert VacStore(path).integrity_check() == "ok"


def test_eviction_rule(tmp_path):
    store = VacStore(tmp_path / "vac.sqlite")
    a = _candidate("a", "Go")
    assert store.record(fail=[a]).failed == 0  # a failure never creates an entry
    assert store.get(a.scope, "a", a.action_key) is None
    store.record(promote=[a])
    store.record(promote=[a])
    store.record(promote=[a])
    assert store.record(fail=[a]).evicted == 0  # 1 failure vs 3 successes: kept
    store.record(promote=[a])  # resets the run of failures
    assert store.record(fail=[a]).evicted == 0
    out = store.record(fail=[a])  # two in a row
    assert out.evicted == 1
    assert store.lookup(a.scope, "a") == []
    store.record(promote=[a] * 5)
    assert store.lookup(a.scope, "a") == []  # sticky
    b = _candidate("b", "Go")
    store.record(promote=[b])
    assert store.record(fail=[b]).evicted == 1  # failures >= successes
