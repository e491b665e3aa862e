"""Durable channels under kill -9 (issue 14): producers and consumers run
against chand --data-dir, the daemon is killed with SIGKILL at a random
moment, restarted on the same directory, and its channels drained and
checked before the next round. It runs under `--fsync always` and then
`everysec`: a kill -9 is a crash of the process, not of the machine, so
under both policies no value answered OK may be lost (the OK is written
only after the value was written to the store's file).

    python3 Tests/Reliability/durable.py [--kills 20] [--fsync always,everysec] [--chand PATH]

Checks after every restart:
- every value whose SEND got OK was received before the crash or is in its
  channel now: nothing answered is lost;
- what is left of each producer's values in a channel is in the order sent;
- nothing is received that was never sent;
- a value is received twice only when its first delivery was in the round
  that ended with the crash (delivered, not yet acknowledged or not yet
  recorded as delivered: at least once, as documented), and every such
  value is counted."""

import argparse
import random
import shutil
import socket
import tempfile
import threading
import time

from chanrel import Daemon, check

CHANNELS = ("d0", "d1")
CAPACITY = 1000
PRODUCERS_PER_CHANNEL = 2
WINDOW = 8


class Conn:
    """A blocking connection that reads replies (MSG/EXC with payload)."""

    def __init__(self, port):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.file = self.sock.makefile("rb")

    def say(self, *lines):
        self.sock.sendall(b"".join(line.encode() + b"\r\n" for line in lines))

    def reply(self):
        line = self.file.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection ended")
        words = line.decode().split()
        if words[0] in ("MSG", "EXC"):
            payload = self.file.read(int(words[2]) + 2)[:-2].decode()
            return words, payload
        return words, None

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


class Ledger:
    """What the clients saw, across rounds."""

    def __init__(self):
        self.lock = threading.Lock()
        self.attempted = set()
        self.acked = set()
        self.received = {}  # value -> round first received
        self.next_seq = {}
        self.redelivered = 0
        self.checked = 0


def producer(port, channel, name, ledger, stop):
    try:
        c = Conn(port)
    except OSError:
        return
    try:
        while not stop.is_set():
            with ledger.lock:
                start = ledger.next_seq.get(name, 0)
                ledger.next_seq[name] = start + WINDOW
            values = [f"{name}-{seq:09d}" for seq in range(start, start + WINDOW)]
            with ledger.lock:
                ledger.attempted.update(values)
            c.say(*(f"SEND {channel} {v}" for v in values))
            for v in values:
                words, _ = c.reply()
                check(words == ["OK"], f"SEND {channel} {v} answered {words}")
                with ledger.lock:
                    ledger.acked.add(v)
    except (OSError, ConnectionError):
        pass
    finally:
        c.close()


def consumer(port, channel, acks, ledger, round_no, stop):
    try:
        c = Conn(port)
    except OSError:
        return
    try:
        while not stop.is_set():
            c.say(f"RECV {channel} TIMEOUT 200" + (" ACK" if acks else ""))
            words, payload = c.reply()
            if words[0] == "TIMEOUT":
                continue
            check(words[0] == "MSG" and words[1] == channel, f"RECV {channel} answered {words}")
            note(ledger, payload, round_no, channel)
            if acks:
                c.say(f"ACK {words[3]}")
    except (OSError, ConnectionError):
        pass
    finally:
        c.close()


def note(ledger, value, round_no, channel, crash_round=None):
    """Records a received value; a second receipt is allowed only for a value
    first received in `crash_round` (the round the daemon was killed in)."""
    with ledger.lock:
        check(value in ledger.attempted, f"{channel}: received {value!r}, never sent")
        check(value.startswith(channel + "-"), f"{value!r} received from {channel}")
        first = ledger.received.get(value)
        if first is None:
            ledger.received[value] = round_no
        else:
            check(crash_round is not None and first == crash_round,
                  f"{value} received twice (first in round {first}, again in round {round_no})")
            ledger.redelivered += 1


def drain_and_check(port, ledger, round_no):
    """The state the restart brought back: every channel durable, drained in
    order; then every value answered OK has been received."""
    c = Conn(port)
    try:
        for ch in CHANNELS:
            c.say(f"STAT {ch}")
            words, _ = c.reply()
            check(f"cap={CAPACITY}" in words and "durable=1" in words, f"after restart: {' '.join(words)}")
            last = {}
            while True:
                c.say(f"RECV {ch} NOWAIT")
                words, payload = c.reply()
                if words[0] == "TIMEOUT":
                    break
                check(words[0] == "MSG", f"RECV {ch} NOWAIT answered {words}")
                name, seq = payload.rsplit("-", 1)
                check(int(seq) > last.get(name, -1), f"{ch}: {payload} after {name}-{last.get(name)}: out of order")
                last[name] = int(seq)
                note(ledger, payload, round_no, ch, crash_round=round_no - 1)
                ledger.checked += 1
        with ledger.lock:
            missing = ledger.acked - ledger.received.keys()
        check(not missing, f"round {round_no}: {len(missing)} values answered OK are lost, e.g. {sorted(missing)[:3]}")
    finally:
        c.close()


def run(kills=20, policies=("always", "everysec"), binary=None, seed=None):
    """`kills` kills under each fsync policy; the figures by policy."""
    return {policy: run_policy(kills, policy, binary=binary, seed=seed) for policy in policies}


def run_policy(kills, fsync, min_seconds=0.2, max_seconds=1.2, binary=None, seed=None):
    rng = random.Random(seed)
    directory = tempfile.mkdtemp(prefix="chand-durable-")
    ledger = Ledger()
    started = time.monotonic()
    d = None
    try:
        for round_no in range(kills + 1):
            d = Daemon("--data-dir", directory, "--fsync", fsync, binary=binary)
            if round_no == 0:
                c = Conn(d.port)
                for ch in CHANNELS:
                    c.say(f"MAKE {ch} CAP {CAPACITY} DURABLE")
                    check(c.reply()[0] == ["OK"], "MAKE ... DURABLE")
                c.close()
            drain_and_check(d.port, ledger, round_no)
            if round_no == kills:
                status, log = d.stop()
                check(status == 0, f"chand exited {status}: {log[-2000:]}")
                break
            stop = threading.Event()
            threads = []
            for ch in CHANNELS:
                for i in range(PRODUCERS_PER_CHANNEL):
                    threads.append(threading.Thread(target=producer, args=(d.port, ch, f"{ch}-p{i}", ledger, stop)))
                for acks in (False, True):
                    threads.append(threading.Thread(target=consumer, args=(d.port, ch, acks, ledger, round_no, stop)))
            for t in threads:
                t.start()
            time.sleep(rng.uniform(min_seconds, max_seconds))
            d.proc.kill()
            d.proc.wait()
            stop.set()
            for t in threads:
                t.join(timeout=60)
            d.stop()
        figures = {"kills": kills, "values_acked": len(ledger.acked), "values_received": len(ledger.received),
                   "values_checked_after_restart": ledger.checked, "redelivered": ledger.redelivered}
        print(f"durable (--fsync {fsync}): {kills} kills, {len(ledger.acked)} values answered OK, {len(ledger.received)} received, "
              f"{ledger.checked} found in their channel after a restart, {ledger.redelivered} delivered again "
              f"({time.monotonic() - started:.0f} s)", flush=True)
        return figures
    finally:
        if d is not None and d.alive():
            d.proc.kill()  # a failed check: the daemon of that round
            d.proc.wait()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=20, help="kills under each policy")
    parser.add_argument("--fsync", default="always,everysec", help="comma-separated policies, run in turn")
    parser.add_argument("--chand", help="the daemon binary (default: $CHAND_BIN, else .build/debug/chand)")
    args = parser.parse_args()
    run(kills=args.kills, policies=args.fsync.split(","), binary=args.chand)
