"""Faults: clients doing random operations are killed with a TCP reset at
random points (mid-command, mid counted payload, while blocked with a
request unanswered, right after a match with the reply unread, in a race
with a sender), for a set time. Then everything stops and the
books must balance:

- no value is received twice, or on another channel than it was sent to;
- a value is received only if it was sent (acknowledged, or its sender was
  killed with the SEND pending); never from an incomplete command, a SELECT
  case that was not chosen, a timed-out SELECT or a SEND refused as CLOSED;
- every acknowledged value is received, except values whose receiver was
  killed with a receive pending (at most one per such kill, on one of the
  channels it was receiving from); INFO's values_lost counts those the
  server matched but never handed to the socket, so values_lost <= lost;
- no channel keeps chanops of dead connections, nothing stays blocked;
- the daemon's memory after a run comes back to what it was after a
  warm-up run of the same kind.

Some receivers receive with ACK (on channels of their own, a*/y*, where no
plain receive happens): each value they get is held until they write
`ACK <tag>` (at once, or later while their next request is blocked) or
`NACK <tag>`, and a kill gives back what they hold. For those channels:

- every value whose sender got OK was acknowledged by some receiver (or
  was still buffered at the end): none lost, whatever the kills;
- a value is received again only after it came back (given back, or its
  holder killed holding it, or an ACK that a kill may have cut off);
  never after an acknowledgement the server is known to have read;
- with ACK receivers only (`ack_share=1`), INFO's values_lost stays 0.
"""

import collections
import random
import time

from chanrel import Conn, Control, Daemon, Loop, check, check_memory

BASE = ["k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9"]
ACK_BASE = ["a0", "a1", "a2", "a3", "a4", "a5"]
MADE = {"k0": "CAP 2", "k1": "CAP 1 PREFER SENDER", "k2": "PREFER SENDER", "k3": "PREFER NONE", "k4": "CAP 3",
        "a0": "CAP 2", "a1": "CAP 1 PREFER SENDER", "a2": "PREFER NONE", "a3": "CAP 3"}
# How a value received with ACK ended for its receiver: held (not settled
# yet), acked (an ACK the server is known to have read), uncertain (an ACK
# written, then the connection ended before a later reply proved it read),
# returned (NACK, or the holder ended while holding it). Other receipts:
# plain (RECV without ACK), drained (taken after the run).
FINAL = ("plain", "acked", "drained")


def is_ack_channel(name):
    return name[0] in "ay"


class ChaosConn(Conn):
    """A client that can be told to die as soon as a reply arrives."""
    kill_on_readable = False

    def on_readable(self):
        if self.kill_on_readable:
            self.chaos.kill(self, "after a match")
            return
        super().on_readable()


class Chaos:
    def __init__(self, daemon, control, seed, population, prefix, ack_share=0.5):
        self.daemon, self.control, self.prefix = daemon, control, prefix
        self.ack_share = ack_share
        self.rng = random.Random(seed)
        self.population = population
        self.loop = Loop()
        self.clients = set()
        self.sends = {}            # id -> [channel, verb, state]; state: pending/acked/failed/never/unknown/notchosen
        self.received = collections.Counter()
        self.receipts = collections.defaultdict(list)  # id -> [fate, ...], one per time it was received
        self.holder_kills = 0      # receivers killed while holding values
        self.held_at_kills = 0     # values they held then
        self.received_on = {}
        self.loss_slots = collections.Counter()  # channel -> receivers killed with a receive pending on it
        self.pending_receive_kills = 0
        self.kills = collections.Counter()
        self.ops = collections.Counter()
        self.bad = []
        self.ids = 0
        self.epoch = 0
        self.stopping = False

    # MARK: Channels and ops

    def channels(self):
        return BASE + [f"z{self.epoch}", f"z{self.epoch - 1}"]

    def ack_channels(self):
        return ACK_BASE + [f"y{self.epoch}", f"y{self.epoch - 1}"]

    def send_channels(self):
        return self.ack_channels() if self.ack_share >= 1 else self.channels() + self.ack_channels()

    def new_id(self, channel, verb):
        self.ids += 1
        ident = f"{self.prefix}{self.ids}"
        self.sends[ident] = [channel, verb, "pending"]
        return ident

    def payload(self, ident):
        return ident.encode() + b"#" + bytes(self.rng.choice(b"abc \r\n\x00\xff") for _ in range(self.rng.randrange(0, 40)))

    def send_case(self, verb, channel, ident, counted):
        """The bytes of a SEND/THROW line with its payload, and where its payload starts (counted) or None."""
        payload = self.payload(ident)
        if counted or any(b in payload for b in b"\r\n"):
            head = b"%s %s {%d}\r\n" % (verb, channel.encode(), len(payload))
            return head + payload + b"\r\n", len(head)
        return b"%s %s %s\r\n" % (verb, channel.encode(), payload), None

    def wait_option(self):
        r = self.rng.random()
        if r < 0.5:
            return b""
        if r < 0.8:
            return b" TIMEOUT %d" % self.rng.randint(1, 300)
        return b" NOWAIT"

    def make_op(self):
        rng = self.rng
        r = rng.random()
        ack = rng.random() < self.ack_share
        chans = self.ack_channels() if ack else self.channels()
        sends = self.send_channels()
        ack_word = b" ACK" if ack else b""
        op = {"ids": [], "recv": [], "cases": [], "payload_at": None, "ack": ack}
        if r < 0.32:
            verb = b"THROW" if rng.random() < 0.1 else b"SEND"
            ch = rng.choice(sends)
            ident = self.new_id(ch, verb)
            op["kind"] = "send"
            op["ids"] = [ident]
            op["cases"] = [("send", ident)]
            op["bytes"], op["payload_at"] = self.send_case(verb, ch, ident, rng.random() < 0.5)
        elif r < 0.62:
            ch = rng.choice(chans)
            op["kind"] = "recv"
            op["recv"] = [ch]
            op["cases"] = [("recv", ch)]
            op["bytes"] = b"RECV %s%s%s\r\n" % (ch.encode(), self.wait_option(), ack_word)
        elif r < 0.92:
            n = rng.randint(1, 4)
            op["kind"] = "select"
            body = b""
            for _ in range(n):
                if rng.random() < 0.5:
                    ch = rng.choice(sends)
                    verb = b"THROW" if rng.random() < 0.1 else b"SEND"
                    ident = self.new_id(ch, verb)
                    case, at = self.send_case(verb, ch, ident, rng.random() < 0.5)
                    if at is not None and op["payload_at"] is None:
                        op["payload_at"] = len(body) + at
                    body += case
                    op["ids"].append(ident)
                    op["cases"].append(("send", ident))
                else:
                    ch = rng.choice(chans)
                    body += b"RECV %s\r\n" % ch.encode()
                    op["recv"].append(ch)
                    op["cases"].append(("recv", ch))
            head = b"SELECT %d%s%s\r\n" % (n, self.wait_option(), ack_word)
            if op["payload_at"] is not None:
                op["payload_at"] += len(head)
            op["bytes"] = head + body
        elif r < 0.99:
            op["kind"] = "misc"
            op["bytes"] = rng.choice([b"PING\r\n", b"STAT %s\r\n" % rng.choice(chans).encode(), b"INFO\r\n"])
        else:
            op["kind"] = "quit"
            op["bytes"] = b"QUIT\r\n"
        self.ops[op["kind"]] += 1
        return op

    # MARK: Clients

    def spawn(self):
        c = ChaosConn(self.loop, self.daemon.port, on_open=self.next_op, on_reply=self.on_reply, on_close=self.on_close)
        c.chaos = self
        c.op = None
        c.dead = False
        c.shut = False
        c.held = {}         # tag -> receipt index, of values this connection holds
        c.unconfirmed = []  # (id, receipt index, op count when written) of ACKs not yet known read
        c.ops_sent = 0
        self.clients.add(c)

    def next_op(self, c):
        if self.stopping or c.dead:
            return
        op = c.op = self.make_op()
        op["since"] = time.monotonic()
        c.ops_sent += 1
        data = op["bytes"]
        r = self.rng.random()
        if r < 0.03:
            # Mid-command: a strict prefix, then the reset. Never executed.
            c.send(data[:self.rng.randrange(1, len(data))])
            c.shut = True  # nothing more is written after the fragment
            self.settle(op, "never")
            c.op = None
            self.loop.call_later(self.rng.uniform(0, 0.02), lambda: self.kill(c, "mid-command"))
        elif r < 0.06 and op["payload_at"] is not None:
            # Mid counted payload: the header and part of the bytes.
            c.send(data[:self.rng.randrange(op["payload_at"], op["payload_at"] + 1 + len(op["ids"][0]))])
            c.shut = True
            self.settle(op, "never")
            c.op = None
            self.loop.call_later(self.rng.uniform(0, 0.02), lambda: self.kill(c, "mid-payload"))
        elif r < 0.10 and op["recv"]:
            # Right after a match: the reply is in the socket, unread.
            c.kill_on_readable = True
            c.send(data)
        elif r < 0.13 and op["kind"] == "send":
            # A race: the receiver of this value dies as the value is sent.
            ch = self.sends[op["ids"][0]][0]
            victims = [v for v in self.clients if v.op and ch in v.op["recv"] and not v.dead]
            c.send(data)
            if victims:
                self.kill(self.rng.choice(victims), "racing a sender")
        else:
            c.send(data)

    def settle(self, op, state):
        for ident in op["ids"]:
            if self.sends[ident][2] == "pending":
                self.sends[ident][2] = state

    def kill(self, c, how):
        if c.dead:
            return
        if c.op is not None:
            self.settle(c.op, "unknown")
            # A receiver with ACK loses nothing: what it was matched with comes back.
            if c.op["recv"] and not c.op["ack"]:
                self.pending_receive_kills += 1
                for ch in set(c.op["recv"]):
                    self.loss_slots[ch] += 1
        if c.held:
            self.holder_kills += 1
            self.held_at_kills += len(c.held)
        self.kills[how] += 1
        self.connection_ended(c)
        self.forget(c)
        c.reset()

    # MARK: Held values

    def connection_ended(self, c):
        """What the connection held comes back; an ACK it wrote that no later
        reply proved read may or may not have been read."""
        for ident, at in c.held.values():
            self.receipts[ident][at] = "returned"
        c.held = {}
        for ident, at, _ in c.unconfirmed:
            self.receipts[ident][at] = "uncertain"
        c.unconfirmed = []

    def hold(self, c, reply, ident):
        """A value received with ACK: acknowledge it now, give it back now,
        or settle it later (while the next request may be blocked)."""
        at = len(self.receipts[ident]) - 1
        c.held[reply.tag] = (ident, at)
        r = self.rng.random()
        if r < 0.6:
            self.settle_held(c, reply.tag, acknowledge=True)
        elif r < 0.7:
            self.settle_held(c, reply.tag, acknowledge=False)
        else:
            tag, acknowledge = reply.tag, self.rng.random() < 0.85
            self.loop.call_later(self.rng.uniform(0, 0.005), lambda: self.settle_held(c, tag, acknowledge))

    def settle_held(self, c, tag, acknowledge):
        if c.dead or c.shut or tag not in c.held:
            return
        ident, at = c.held.pop(tag)
        if acknowledge:
            c.send(b"ACK %d\r\n" % tag)
            self.receipts[ident][at] = "uncertain"
            c.unconfirmed.append((ident, at, c.ops_sent))
        else:
            # Back to the front of its channel, whether or not this NACK is read.
            c.send(b"NACK %d\r\n" % tag)
            self.receipts[ident][at] = "returned"

    def confirm_acks(self, c):
        """A reply to the request last sent: every ACK written before it was read."""
        keep = []
        for ident, at, written in c.unconfirmed:
            if written < c.ops_sent:
                self.receipts[ident][at] = "acked"
            else:
                keep.append((ident, at, written))
        c.unconfirmed = keep

    def forget(self, c):
        c.dead = True
        c.op = None
        self.clients.discard(c)
        if not self.stopping:
            self.spawn()

    def on_close(self, c, reason):
        if c.dead:
            return
        if c.op is not None:
            # Closed by the server with the request unanswered: withdrawn.
            if not self.stopping and c.op["kind"] != "quit":
                self.bad.append(f"server closed a client ({reason}) during {c.op['bytes'][:40]!r}")
            # A send whose value a receiver held may still be acknowledged
            # after its sender ended (the sender never hears of it).
            for ident in c.op["ids"]:
                if self.sends[ident][2] == "pending":
                    self.sends[ident][2] = "ended" if is_ack_channel(self.sends[ident][0]) else "failed"
        self.connection_ended(c)
        self.forget(c)

    def take(self, reply, channel, c=None, ack=False, drained=False):
        ident = reply.payload.split(b"#", 1)[0].decode()
        record = self.sends.get(ident)
        if record is None:
            self.bad.append(f"unknown value {ident}")
            return
        self.received[ident] += 1
        if (reply.tag is not None) != ack:
            self.bad.append(f"{ident}: tag {reply.tag} on a receive {'with' if ack else 'without'} ACK")
        self.receipts[ident].append("drained" if drained else "held" if ack else "plain")
        if ack and reply.tag is not None:
            if reply.tag in c.held:
                self.bad.append(f"tag {reply.tag} given twice to one connection")
            self.hold(c, reply, ident)
        if record[0] != channel or reply.channel != channel:
            self.bad.append(f"{ident} sent on {record[0]} arrived on {reply.channel} (case on {channel})")
        if (record[1] == b"THROW") != (reply.kind == "EXC"):
            self.bad.append(f"{ident}: {record[1]} arrived as {reply.kind}")

    def on_reply(self, c, reply):
        op = c.op
        if op is None:
            self.bad.append(f"reply without request: {reply.line}")
            return
        kind = op["kind"]
        ok = True
        self.confirm_acks(c)
        if kind == "send":
            ok = self.outcome(op["cases"][0], reply, c)
        elif kind == "recv":
            ok = self.outcome(op["cases"][0], reply, c) or reply.kind == "TIMEOUT"
        elif kind == "select":
            if reply.kind == "TIMEOUT" and reply.index is None:
                self.settle(op, "failed")
            elif reply.index is not None and reply.index < len(op["cases"]):
                ok = self.outcome(op["cases"][reply.index], reply, c)
                self.settle(op, "notchosen")
            else:
                ok = False
        elif kind == "misc":
            ok = reply.kind in ("PONG", "STAT", "INFO")
        elif kind == "quit":
            if reply.kind != "BYE":
                self.bad.append(f"QUIT -> {reply.line}")
            c.op = None
            return
        if not ok:
            self.bad.append(f"{op['bytes'][:60]!r} -> {reply.line}")
        c.op = None
        self.next_op(c)

    def outcome(self, case, reply, c):
        what, arg = case
        if what == "send":
            if reply.kind == "OK":
                self.sends[arg][2] = "acked"
                return True
            if reply.kind == "ERR" and reply.words[1] == "CLOSED":
                self.sends[arg][2] = "failed"
                return True
            return False
        if reply.kind in ("MSG", "EXC"):
            self.take(reply, arg, c, ack=c.op["ack"])
            return True
        return reply.kind == "CLOSED" and reply.channel == arg

    # MARK: Running

    def next_epoch(self):
        if self.stopping:
            return
        check(self.control.cmd(f"CLOSE z{self.epoch}").kind == "OK", "CLOSE failed")
        check(self.control.cmd(f"CLOSE y{self.epoch}").kind == "OK", "CLOSE failed")
        self.epoch += 1
        self.loop.call_later(1.0, self.next_epoch)

    def reaper(self):
        """Kills a client whose request has waited 3 ms or more unanswered:
        blocked in RECV, SEND or SELECT, or (for any request, when this loop
        is slow) its reply not read yet."""
        if self.stopping:
            return
        now = time.monotonic()
        waiting = [c for c in self.clients if c.op and now - c.op["since"] > 0.003 and not c.kill_on_readable]
        if waiting:
            c = self.rng.choice(waiting)
            self.kill(c, f"{c.op['kind'].upper()} unanswered")
        self.loop.call_later(0.01, self.reaper)

    def witness(self):
        if self.stopping:
            return
        check(self.control.cmd("PING").kind == "PONG", "the daemon stopped answering")
        self.loop.call_later(0.1, self.witness)

    def run(self, seconds):
        for _ in range(self.population):
            self.spawn()
        self.loop.call_later(1.0, self.next_epoch)
        self.loop.call_later(0.1, self.witness)
        self.loop.call_later(0.01, self.reaper)
        self.loop.run_for(seconds)
        check(not self.bad, f"wrong replies: {self.bad[:5]}")
        self.stop()

    def stop(self):
        """Everything stops: no new operations, pending kills fire, every
        client ends its input and reads until the server closes it."""
        self.stopping = True
        for c in self.clients:
            c.kill_on_readable = False
        self.loop.run_for(0.15)
        for c in list(self.clients):
            c.shut = True  # what it holds now comes back at its end of input
            if c.connected:
                c.shutdown_write()
            else:
                c.close()
                self.forget(c)
        self.loop.run_until(lambda: not self.clients, 60, "clients closing", progress=lambda: len(self.clients))
        check(not self.bad, f"wrong replies: {self.bad[:5]}")
        self.control.wait_info("connections", 1)

    def drain(self):
        """Takes every value still buffered."""
        _, listed = self.control.channels()
        for name, f in listed:
            for _ in range(f["len"]):
                reply = self.control.cmd(f"RECV {name} NOWAIT")
                check(reply.kind in ("MSG", "EXC"), f"draining {name}: {reply.line}")
                self.take(reply, name, drained=True)


def books(chaos, control):
    """Checks a finished, drained run's books; returns its figures."""
    check(not chaos.bad, f"wrong replies: {chaos.bad[:5]}")
    sends, receipts = chaos.sends, chaos.receipts
    plain_ids = [i for i in chaos.received if not is_ack_channel(sends[i][0])]
    twice = [i for i in plain_ids if chaos.received[i] > 1]
    check(not twice, f"received more than once: {twice[:5]}")
    unsettled = [i for i, r in receipts.items() if "held" in r]
    check(not unsettled, f"{len(unsettled)} values still held by ended connections: {unsettled[:5]}")
    # A value is received again only after it came back: never after a
    # receipt that ended it (a plain RECV, an ACK known read, the drain).
    again = [(i, r) for i, r in receipts.items() if any(f in FINAL for f in r[:-1])]
    check(not again, f"received again after it was taken for good: {again[:5]}")
    # Taken for good only if sent: acknowledged, or its sender ended first.
    finished = [i for i, r in receipts.items() if r[-1] in FINAL + ("uncertain",)]
    wrong = [i for i in finished if sends[i][2] not in ("acked", "unknown", "ended")]
    check(not wrong, f"received but never sent: {[(i, sends[i], receipts[i]) for i in wrong[:5]]}")
    # Even a value held and given back must have been sent.
    phantom = [i for i in receipts if sends[i][2] in ("never", "notchosen", "pending")]
    check(not phantom, f"received but never sent: {[(i, sends[i], receipts[i]) for i in phantom[:5]]}")
    pending = [i for i, s in sends.items() if s[2] == "pending"]
    check(not pending, f"{len(pending)} sends never settled")
    acked = [i for i, s in sends.items() if s[2] == "acked"]
    plain_acked = [i for i in acked if not is_ack_channel(sends[i][0])]
    lost = [i for i in plain_acked if i not in chaos.received]
    for ch, n in collections.Counter(sends[i][0] for i in lost).items():
        check(n <= chaos.loss_slots[ch], f"{n} acknowledged values lost on {ch}, "
              f"but only {chaos.loss_slots[ch]} receivers died waiting on it")
    check(len(lost) <= chaos.pending_receive_kills, "more values lost than receivers killed")
    # ACK receivers: every value whose sender got OK was acknowledged by some
    # receiver (an ACK read, or one a kill may have cut off right after it was
    # written: then the value also came back), or was still buffered at the end.
    ack_acked = [i for i in acked if is_ack_channel(sends[i][0])]
    ack_lost = [i for i in ack_acked if not any(f in ("acked", "uncertain", "drained") for f in receipts.get(i, []))]
    check(not ack_lost, f"{len(ack_lost)} values sent OK to ACK receivers and never acknowledged: "
          f"{[(i, sends[i], receipts.get(i)) for i in ack_lost[:5]]}")
    unknown_missing = sum(1 for i, s in sends.items() if s[2] == "unknown" and i not in chaos.received)
    ack_receipts = [f for i, r in receipts.items() if is_ack_channel(sends[i][0]) for f in r]
    return {
        "operations": sum(chaos.ops.values()), "operations_by_kind": dict(chaos.ops),
        "kills": sum(chaos.kills.values()), "kills_by_point": dict(chaos.kills),
        "values_acknowledged": len(acked), "values_received": sum(chaos.received.values()),
        "received_from_killed_senders": sum(1 for i in chaos.received if sends[i][2] == "unknown"),
        "acknowledged_lost": len(lost), "unacknowledged_missing": unknown_missing,
        "receivers_killed_with_receive_pending": chaos.pending_receive_kills,
        "never_delivered_checked": sum(1 for s in sends.values() if s[2] in ("never", "failed", "notchosen")),
        "ack": {
            "sends_ok": len(ack_acked),
            "values_acknowledged_by_receivers": sum(1 for f in ack_receipts if f in ("acked", "uncertain")),
            "acks_cut_off_by_kills": ack_receipts.count("uncertain"),
            "given_back_or_held_at_kill": ack_receipts.count("returned"),
            "drained_after": ack_receipts.count("drained"),
            "values_received_more_than_once": sum(1 for i, r in receipts.items() if is_ack_channel(sends[i][0]) and len(r) > 1),
            "holders_killed": chaos.holder_kills, "values_held_at_kills": chaos.held_at_kills,
            "lost": len(ack_lost),
        },
    }


def quiet(control):
    """Once every client is gone: nothing blocked, no chanop, no value left; after
    the sweep only made or closed channels remain. Returns INFO."""
    info = control.wait_info("tasklets_blocked", 0)
    check(info["tasklets_runnable"] == 0, f"tasklets_runnable={info['tasklets_runnable']}")
    _, listed = control.channels()
    for name, f in listed:
        check(f["senders"] == 0 and f["receivers"] == 0 and f["balance"] == 0 and f["len"] == 0 and f.get("held", 0) == 0,
              f"{name} keeps chanops or values: {f}")
    # The once-a-second sweep forgets an idle implicit channel once it has
    # moved nothing since the sweep before: within two sweeps.
    deadline = time.monotonic() + 5
    while True:
        total, listed = control.channels()
        left = [n for n, f in listed if n not in MADE and f["state"] == "open"]
        if not left or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    check(total == len(listed), "more than 1000 channels left")
    check(not left, f"implicit channels not forgotten: {left[:10]}")
    return info


def run(seconds=10, population=64, seed=7, ack_share=0.5, log=print):
    """`ack_share`: the share of receives made with ACK (1: every receiver
    acknowledges, and values_lost must stay 0)."""
    daemon = Daemon()
    figures = {}
    try:
        control = Control(daemon.port)
        for name, opts in MADE.items():
            check(control.cmd(f"MAKE {name} {opts}").kind == "OK", "MAKE failed")
        # A warm-up run fills the allocator's pools; the baseline is taken after it.
        warm = Chaos(daemon, control, seed + 1, population, "w", ack_share)
        warm.run(min(2.0, seconds))
        warm.drain()
        books(warm, control)
        quiet(control)
        baseline = daemon.rss_kib()
        before = control.info()
        lost_before, redelivered_before = before["values_lost"], before["redelivered"]

        chaos = Chaos(daemon, control, seed, population, "v", ack_share)
        chaos.epoch = warm.epoch + 1
        start = time.monotonic()
        chaos.run(seconds)
        elapsed = time.monotonic() - start
        chaos.drain()
        figures = books(chaos, control)
        info = quiet(control)
        counted = info["values_lost"] - lost_before
        # The server counts values matched to a receiver that died before the
        # value reached its socket: each is missing from what clients read.
        check(counted <= figures["acknowledged_lost"] + figures["unacknowledged_missing"],
              f"values_lost rose by {counted}, more than the values missing")
        if ack_share >= 1:
            check(counted == 0, f"values_lost rose by {counted} with ACK receivers only")
        figures["ack"]["redelivered_counted_by_server"] = info["redelivered"] - redelivered_before
        after = daemon.rss_kib()
        figures.update({
            "seconds": round(elapsed, 1), "population": population, "ack_share": ack_share,
            "connections_total": info["connections_total"], "values_lost_counted_by_server": counted,
            "rss_kib": {"after_warm_up": baseline, "peak": daemon.peak_kib(), "after_run": after},
            "rss_growth_kib": after - baseline,
        })
        # A leak of one small allocation per connection or per value would
        # show up here as megabytes; the allocator's slack is far smaller.
        check_memory(after - baseline < 4096, f"RSS {baseline} KiB after warm-up, {after} KiB after the run")
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    a = figures["ack"]
    log(f"chaos (ACK share {ack_share}): {figures['seconds']} s, {figures['operations']} operations by {population} clients, "
        f"{figures['kills']} kills {figures['kills_by_point']}; {figures['values_acknowledged']} sends OK, "
        f"{figures['acknowledged_lost']} lost with killed plain receivers (server counted {figures['values_lost_counted_by_server']}), "
        f"none twice, none unsent; RSS {figures['rss_growth_kib']:+d} KiB vs warm-up")
    log(f"chaos ACK receivers: {a['sends_ok']} sends OK, {a['values_acknowledged_by_receivers']} values acknowledged "
        f"({a['acks_cut_off_by_kills']} ACKs cut off by a kill), {a['given_back_or_held_at_kill']} given back "
        f"({a['holders_killed']} holders killed holding {a['values_held_at_kills']}), "
        f"{a['redelivered_counted_by_server']} redelivered (server), {a['values_received_more_than_once']} values received "
        f"more than once, all after they came back; {a['drained_after']} drained after; lost: {a['lost']}")
    return figures
