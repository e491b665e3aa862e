"""Load: thousands of concurrent connections, half blocked in RECV or SELECT
across many channels, the rest sending values that each carry a unique id.
The multiset of ids received must equal the multiset of ids acknowledged.
With tls=True the daemon listens with a certificate from a test CA made by
the openssl command, and every client, the control one too, speaks TLS."""

import collections
import random
import tempfile
import time

from chanrel import (Control, Daemon, Loop, check, client_tls_context, make_tls_files, open_many,
                     raise_nofile)


def payload_for(ident, rng):
    return ident.encode() + b"#" + b"." * rng.randrange(0, 96)


def send_bytes(verb, channel, payload, counted):
    if counted:
        return b"%s %s {%d}\r\n%s\r\n" % (verb, channel.encode(), len(payload), payload)
    return b"%s %s %s\r\n" % (verb, channel.encode(), payload)


def run(connections=10_000, channels=1_000, sends_per_sender=10, seed=1, tls=False, log=print):
    if not tls:
        return run_against(connections, channels, sends_per_sender, seed, None, (), log)
    with tempfile.TemporaryDirectory(prefix="chand-tls-") as directory:
        cert, key, ca = make_tls_files(directory)
        return run_against(connections, channels, sends_per_sender, seed, client_tls_context(ca),
                           ("--tls-cert", cert, "--tls-key", key), log)


def run_against(connections, channels, sends_per_sender, seed, tls, daemon_args, log):
    rng = random.Random(seed)
    receivers_n = connections // 2
    senders_n = connections - receivers_n
    soft = raise_nofile(connections + 1024)
    check(soft >= connections + 64, f"RLIMIT_NOFILE is {soft}; {connections} connections need more")
    daemon = Daemon("--max-connections", connections + 16, *daemon_args)
    figures = {"connections": connections, "channels": channels, "tls": tls is not None}
    try:
        limit = daemon.open_files_limit()
        figures["daemon_open_files_limit"] = limit
        check(limit >= connections + 16, f"the daemon inherited RLIMIT_NOFILE {limit}, below {connections}")
        control = Control(daemon.port, tls=tls)
        names = [f"L{i}" for i in range(channels)]
        # Every fourth channel is buffered; the others are rendezvous channels.
        control.send("".join(f"MAKE {n} CAP 4\r\n" for n in names[::4]))
        for _ in names[::4]:
            check(control.reply().kind == "OK", "MAKE failed")
        base = daemon.rss_kib()

        loop = Loop()
        t0 = time.monotonic()
        received = collections.Counter()
        acked = collections.Counter()
        not_chosen = set()
        bad = []
        state = {"acked": 0, "received": 0, "exceptions": 0, "senders_done": 0}

        def stray(conn, reply):
            bad.append(reply.line)

        conns = open_many(loop, daemon.port, connections, stray, tls=tls)
        figures["connect_seconds"] = round(time.monotonic() - t0, 1)
        info = control.wait_info("connections", connections + 1)
        idle = daemon.rss_kib()

        # Receivers: each always waits on its home channel (so every channel
        # keeps receivers coming back and no sender waits for ever); every
        # other one in a SELECT over its home and two more channels.
        receivers, senders = conns[:receivers_n], conns[receivers_n:]
        for i, r in enumerate(receivers):
            home = i % channels
            if i % 2 == 0:
                r.request = b"RECV %s\r\n" % names[home].encode()
            else:
                others = rng.sample([c for c in range(channels) if c != home], 2)
                r.request = b"SELECT 3\r\n" + b"".join(b"RECV %s\r\n" % names[c].encode() for c in [home] + others)

            def on_reply(conn, reply):
                if reply.kind in ("MSG", "EXC") and reply.payload is not None:
                    received[reply.payload.split(b"#", 1)[0].decode()] += 1
                    state["received"] += 1
                    state["exceptions"] += reply.kind == "EXC"
                    conn.send(conn.request)
                else:
                    bad.append(reply.line)
            r.on_reply = on_reply
            r.send(r.request)
        info = control.wait_info("tasklets_blocked", receivers_n)
        blocked = daemon.rss_kib()

        # Every connection blocked: the senders first wait in a SEND that no
        # one takes yet; the control connection then takes those values.
        def first_reply(conn, reply):
            if reply.kind != "OK":
                bad.append(reply.line)
                return
            acked[f"n{conn.index}"] += 1
            state["acked"] += 1
            state["first_done"] += 1
        state["first_done"] = 0
        for s in senders:
            s.on_reply = first_reply
            s.send(b"SEND nobody%d n%d#\r\n" % (s.index % channels, s.index))
        info = control.wait_info("tasklets_blocked", connections)
        all_blocked = daemon.rss_kib()
        control.send("".join(f"RECV nobody{s.index % channels}\r\n" for s in senders))
        for _ in senders:
            reply = control.reply()
            check(reply.kind == "MSG", f"control RECV got {reply.line}")
            received[reply.payload.split(b"#", 1)[0].decode()] += 1
            state["received"] += 1
        loop.run_until(lambda: state["first_done"] == senders_n or bad, 60, "releasing the senders",
                       progress=lambda: state["first_done"])
        check(not bad, f"unexpected replies: {bad[:5]}")

        # Senders: SEND or THROW one value at a time, inline or counted; one
        # in four as a SELECT over two SEND cases with distinct ids (only the
        # chosen case's id counts as sent; the other must never arrive).
        def next_send(conn):
            if conn.sent == sends_per_sender:
                state["senders_done"] += 1
                return
            conn.sent += 1
            base_id = f"s{conn.index}.{conn.sent}"
            if rng.random() < 0.25:
                a, b = rng.sample(names, 2)
                conn.cases = [base_id + "a", base_id + "b"]
                conn.send(b"SELECT 2\r\n" + send_bytes(b"SEND", a, payload_for(conn.cases[0], rng), rng.random() < 0.5)
                          + send_bytes(b"SEND", b, payload_for(conn.cases[1], rng), rng.random() < 0.5))
            else:
                conn.cases = [base_id]
                verb = b"THROW" if rng.random() < 0.05 else b"SEND"
                conn.send(send_bytes(verb, rng.choice(names), payload_for(base_id, rng), rng.random() < 0.5))

        def sender_reply(conn, reply):
            if reply.kind != "OK":
                bad.append(reply.line)
                return
            i = reply.index or 0
            acked[conn.cases[i]] += 1
            state["acked"] += 1
            not_chosen.update(c for j, c in enumerate(conn.cases) if j != i)
            next_send(conn)

        t1 = time.monotonic()
        for s in senders:
            s.sent = 0
            s.on_reply = sender_reply
            next_send(s)
        total = senders_n * (sends_per_sender + 1)
        loop.run_until(lambda: (state["senders_done"] == senders_n and state["received"] >= state["acked"]) or bad,
                       60, "moving values", progress=lambda: state["acked"] + state["received"])
        figures["move_seconds"] = round(time.monotonic() - t1, 1)
        check(not bad, f"unexpected replies: {bad[:5]}")
        loop.run_for(0.2)  # anything extra (a duplicate) would arrive now
        check(not bad, f"unexpected replies: {bad[:5]}")
        peak = daemon.rss_kib()
        check(state["acked"] == total, f"{state['acked']} of {total} sends acknowledged")
        check(received == acked, "received ids differ from acknowledged ids: "
              f"{len(acked - received)} missing, {len(received - acked)} extra")
        check(not (not_chosen & set(received)), "a SELECT case that was not chosen was delivered")
        info = control.wait_info("tasklets_blocked", receivers_n)
        check(info["values_lost"] == 0, f"values_lost={info['values_lost']}")
        _, listed = control.channels("L")
        check(all(f["senders"] == 0 and f["len"] == 0 for _, f in listed), "senders or values left behind")
        waiting = sum(f["receivers"] for _, f in listed)
        check(waiting == receivers_n // 2 + 3 * (receivers_n - receivers_n // 2),
              f"{waiting} receiver chanops, expected one per RECV and three per SELECT")

        # Everyone leaves: nothing may stay queued.
        for c in conns:
            c.close()
        info = control.wait_info("connections", 1)
        info = control.wait_info("tasklets_blocked", 0)
        _, listed = control.channels()
        check(all(f["senders"] == 0 and f["receivers"] == 0 for _, f in listed), "chanops of closed connections left")
        time.sleep(1.2)  # the sweep forgets the implicit channels
        after = daemon.rss_kib()
        info = control.info()
        figures.update({
            "values_acknowledged": state["acked"], "values_received": state["received"],
            "exceptions": state["exceptions"], "select_sends": len(not_chosen),
            "values_lost": info["values_lost"],
            "rss_kib": {"baseline": base, "idle": idle, "half_blocked": blocked, "all_blocked": all_blocked,
                        "after_traffic": peak, "after_close": after},
            "kib_per_idle_connection": round((idle - base) / connections, 2),
            "kib_per_blocked_receiver": round((blocked - idle) / receivers_n, 2),
            "kib_per_blocked_sender": round((all_blocked - blocked) / senders_n, 2),
            "channels_after_close": info["channels"],
        })
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    log(f"load{' (TLS)' if tls is not None else ''}: {connections} connections ({receivers_n} blocked receivers over {channels} channels, "
        f"{senders_n} senders), {figures['values_acknowledged']} values acknowledged = received, "
        f"values_lost 0; RSS {figures['kib_per_idle_connection']} KiB per idle connection, "
        f"+{figures['kib_per_blocked_receiver']} KiB per blocked receiver, "
        f"+{figures['kib_per_blocked_sender']} KiB per blocked sender")
    return figures
