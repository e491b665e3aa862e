#!/usr/bin/python3
"""The storage choice for durable channels, measured: SQLite and LMDB (from
Debian: python3's sqlite3, apt-get install python3-lmdb) doing the store's
work on the calling thread, as the daemon's loop would have to.

Each loop iteration stores one 16-byte value per client and deletes the
values the previous iteration stored (the consumer), then commits. Prints
values/s and the commit's time on the calling thread (p50, max): with these
libraries a commit that syncs blocks its caller, so keeping fsync off the
loop would need a thread of our own around them anyway. The plain-list row
is the Python loop alone, to subtract. Compare with ChanStoreBench (Swift:
append and commit on the loop, write and fsync on the store's thread).

Usage: /usr/bin/python3 Benchmarks/store_engines.py [seconds-per-run]
"""
import os, shutil, sqlite3, sys, tempfile, time

try:
    import lmdb
except ImportError:
    lmdb = None

SECONDS = float(sys.argv[1]) if len(sys.argv) > 1 else 3.0
PAYLOAD = b"a" * 16


def run(name, clients, put, delete, commit):
    commits, stored, prev, next_id = [], 0, [], 0
    start = time.monotonic()
    while time.monotonic() - start < SECONDS:
        for key in prev:
            delete(key)
        prev = list(range(next_id, next_id + clients))
        for key in prev:
            put(key)
        next_id += clients
        t0 = time.monotonic()
        commit()
        commits.append(time.monotonic() - t0)
        stored += clients
    elapsed = time.monotonic() - start
    commits.sort()
    print(f"{name:28} {clients:8} {stored / elapsed:12.0f} {commits[len(commits) // 2] * 1e6:14.0f} {commits[-1] * 1e6:12.0f}")


def plain(clients):
    items = {}
    run("plain list (python only)", clients, lambda k: items.__setitem__(k, PAYLOAD), items.pop, lambda: None)


def sqlite(sync, clients, directory):
    db = sqlite3.connect(os.path.join(directory, f"s-{sync}-{clients}.db"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute(f"PRAGMA synchronous={sync}")
    db.execute("CREATE TABLE v (id INTEGER PRIMARY KEY, payload BLOB)")
    db.execute("BEGIN")

    def commit():
        db.execute("COMMIT")
        db.execute("BEGIN")

    run(f"sqlite WAL synchronous={sync}", clients,
        lambda k: db.execute("INSERT INTO v VALUES (?, ?)", (k, PAYLOAD)),
        lambda k: db.execute("DELETE FROM v WHERE id = ?", (k,)), commit)
    db.execute("COMMIT")
    db.close()


def lmdb_run(sync, clients, directory):
    env = lmdb.open(os.path.join(directory, f"l-{sync}-{clients}"), map_size=1 << 30, sync=sync, metasync=sync)
    txn = [env.begin(write=True)]

    def commit():
        txn[0].commit()
        txn[0] = env.begin(write=True)

    run(f"lmdb sync={sync}", clients, lambda k: txn[0].put(k.to_bytes(8, "big"), PAYLOAD),
        lambda k: txn[0].delete(k.to_bytes(8, "big")), commit)
    txn[0].commit()
    env.close()


def main():
    directory = tempfile.mkdtemp(prefix="chanstore-engines-")
    try:
        print(f"{'engine':28} {'clients':>8} {'values/s':>12} {'commit p50 us':>14} {'max us':>12}")
        for clients in (1, 64):
            plain(clients)
            for sync in ("OFF", "NORMAL", "FULL"):
                sqlite(sync, clients, directory)
            if lmdb:
                for sync in (False, True):
                    lmdb_run(sync, clients, directory)
    finally:
        shutil.rmtree(directory)


main()
