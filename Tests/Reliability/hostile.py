"""Hostile input against the real daemon: slowloris, clients that pipeline
and never read, clients holding unfinished max-size payloads, floods of MAKE
and of SELECT case lines, and the fuzzer's corpus replayed over sockets. Each must leave the server serving others with
its memory bounded; every figure is printed and returned."""

import glob
import os
import socket
import threading
import time

from chanrel import ROOT, Conn, Control, Daemon, Loop, check, check_memory, open_many, raise_nofile


def round_trips(loop, port, pairs, count, tag):
    """`pairs` sender/receiver pairs each move `count` values in order over
    their own channel; returns when all arrived (checked in order)."""
    state = {"done": 0, "moved": 0, "bad": []}

    def receiver_reply(conn, reply):
        expected = b"%d" % conn.next
        if reply.kind != "MSG" or reply.payload != expected:
            state["bad"].append(reply.line)
            return
        conn.next += 1
        state["moved"] += 1
        if conn.next < count:
            conn.send(b"RECV %s\r\n" % conn.channel)
        else:
            state["done"] += 1

    def sender_reply(conn, reply):
        if reply.kind != "OK":
            state["bad"].append(reply.line)
            return
        conn.next += 1
        if conn.next < count:
            conn.send(b"SEND %s %d\r\n" % (conn.channel, conn.next))

    conns = []
    for i in range(pairs):
        channel = b"%s%d" % (tag.encode(), i)
        r = Conn(loop, port, on_open=lambda c: c.send(b"RECV %s\r\n" % c.channel), on_reply=receiver_reply)
        s = Conn(loop, port, on_open=lambda c: c.send(b"SEND %s 0\r\n" % c.channel), on_reply=sender_reply)
        for c in (r, s):
            c.channel, c.next = channel, 0
        conns += [r, s]
    loop.run_until(lambda: state["done"] == pairs or state["bad"], 60, "round trips", progress=lambda: state["moved"])
    check(not state["bad"], f"round trips got {state['bad'][:3]}")
    for c in conns:
        c.close()
    return state["moved"]


def slowloris(connections=500, seconds=6, log=print):
    """Many connections that send a byte a second and never finish a request;
    others must keep being served."""
    raise_nofile(connections + 256)
    daemon = Daemon("--max-connections", connections + 64)
    try:
        control = Control(daemon.port)
        loop = Loop()
        base = daemon.rss_kib()
        unexpected = []
        slow = open_many(loop, daemon.port, connections, lambda c, r: unexpected.append(r.line))
        scripts = [b"RECV " + b"a" * 250 + b"\r\n", b"SEND slow {5000}\r\n" + b"x" * 5000 + b"\r\n",
                   b"SELECT 3\r\nRECV a\r\nRECV b\r\nRECV c\r\n"]
        for i, c in enumerate(slow):
            c.script, c.at = scripts[i % len(scripts)], 0

        # Each tick, a twentieth of them sends its next byte: a byte a second each.
        tick = {"n": 0, "stop": False}

        def dribble():
            if tick["stop"]:
                return
            for c in slow[tick["n"] % 20::20]:
                if c.at < len(c.script) - 1:   # never the last byte
                    c.send(c.script[c.at:c.at + 1])
                    c.at += 1
            tick["n"] += 1
            loop.call_later(0.05, dribble)

        dribble()
        start = time.monotonic()
        moved = 0
        while time.monotonic() - start < seconds:
            moved += round_trips(loop, daemon.port, 4, 250, "work")
        control.wait_info("connections", connections + 1)  # the workers' closes seen: only the slow ones left
        held = daemon.rss_kib()
        check(not unexpected, f"slow connections got replies: {unexpected[:3]}")
        dribbled = sum(c.at for c in slow)
        tick["stop"] = True
        for c in slow:
            c.reset()
        control.wait_info("connections", 1)
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    figures = {"slow_connections": connections, "seconds": seconds, "bytes_dribbled": dribbled,
               "values_moved_meanwhile": moved, "rss_kib": {"before": base, "holding": held},
               "kib_per_slow_connection": round((held - base) / connections, 2)}
    log(f"slowloris: {connections} connections dribbling a byte a second for {seconds} s; "
        f"{moved} values moved in order meanwhile; {figures['kib_per_slow_connection']} KiB RSS per slow connection")
    return figures


def hogs(count=20, log=print):
    """Clients that pipeline requests (PINGs and a CHANNELS whose reply is
    ~12 KB) and never read: the server must stop reading them, keep serving
    others, hold a bounded amount of memory for them, and once they read,
    answer every request. The hogs use 64 KiB socket buffers, so the backlog
    is the server's to hold, not the kernel's."""
    daemon = Daemon()
    try:
        control = Control(daemon.port)
        control.send("".join(f"MAKE channel-with-a-long-name-{i:04d} CAP 7\r\n" for i in range(300)))
        for _ in range(300):
            check(control.reply().kind == "OK", "MAKE failed")
        listing = b"CHANNELS channel-with-a-long-name-00\r\n"
        request = b"PING\r\n" * 100 + listing
        listing_reply = raw_reply(daemon.port, listing, 101)
        reply_bytes = 600 + len(listing_reply)
        base = daemon.rss_kib()
        hogs = []
        for _ in range(count):
            sock = socket.socket()
            for opt in (socket.SO_SNDBUF, socket.SO_RCVBUF):
                sock.setsockopt(socket.SOL_SOCKET, opt, 64 << 10)
            sock.connect(("127.0.0.1", daemon.port))
            sock.setblocking(False)
            hogs.append([sock, 0])  # socket, bytes sent
        chunk = request * 200

        # Write until no socket takes anything for half a second: the server
        # stopped reading them (it would read and answer for ever otherwise).
        last_progress = time.monotonic()
        deadline = last_progress + 60
        while time.monotonic() - last_progress < 0.5:
            check(time.monotonic() < deadline, "the hogs were never throttled")
            progressed = False
            for h in hogs:
                at = h[1] % len(request)
                try:
                    h[1] += h[0].send(chunk[at:at + (64 << 10)])
                    progressed = True
                except BlockingIOError:
                    pass
            if progressed:
                last_progress = time.monotonic()
            else:
                time.sleep(0.01)
        held = daemon.rss_kib()
        info = control.info()
        # Others are still served.
        loop = Loop()
        moved = round_trips(loop, daemon.port, 2, 200, "other")
        check(control.cmd("PING").kind == "PONG", "the control connection was not answered")
        # Now the hogs finish their last request and read: every request is answered.
        requests = 0
        for sock, sent in hogs:
            at = sent % len(request)
            rest = request[at:] if at else b""
            units = (sent + len(rest)) // len(request)
            requests += units * 101

            def finish(sock=sock, rest=rest):  # the server reads it only as replies are read
                sock.sendall(rest)
                sock.shutdown(socket.SHUT_WR)
            sock.setblocking(True)
            sock.settimeout(120)
            writer = threading.Thread(target=finish)
            writer.start()
            got, tail = read_to_end(sock)
            writer.join()
            check(got == units * reply_bytes and tail.endswith(listing_reply[-64:]),
                  f"a hog sent {units * 101} requests and got {got} bytes of replies, expected {units * reply_bytes}")
            sock.close()
        control.wait_info("connections", 1)
        after = daemon.rss_kib()
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    figures = {"hogs": count, "requests_pipelined": requests, "all_answered_once_read": True,
               "commands_run_before_reading": info["commands"] - 301,
               "values_moved_meanwhile": moved, "rss_kib": {"before": base, "throttled": held, "after": after},
               "kib_per_hog": round((held - base) / count, 1)}
    # Per hog: at most 1 MiB of replies waiting, 64 KiB of later requests and
    # one reply's worth above the mark, plus allocator slack.
    check_memory(held - base < count * 3072, f"RSS grew {held - base} KiB for {count} hogs")
    log(f"hogs: {count} clients pipelined {requests} requests without reading; throttled at "
        f"{figures['kib_per_hog']} KiB RSS each; others served; all answered once read")
    return figures


def raw_reply(port, request, lines):
    """The exact bytes of the reply to one request (that many lines)."""
    with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
        sock.sendall(request)
        data = b""
        while data.count(b"\r\n") < lines:
            data += sock.recv(1 << 16)
        return data


def read_to_end(sock):
    """Bytes read until the server closes; returns their count and the last few."""
    got, tail = 0, b""
    while True:
        data = sock.recv(1 << 20)
        if not data:
            return got, tail
        got += len(data)
        tail = (tail + data)[-256:]


def held_payloads(connections=50, log=print):
    """Connections that each announce a max-size counted payload and send all
    of it but the last byte: the documented worst case per connection
    (max_line + max_payload), reported in numbers. Memory comes back when
    they go, and others are served meanwhile."""
    daemon = Daemon()
    try:
        control = Control(daemon.port)
        base = daemon.rss_kib()
        size = 1 << 20
        socks = []
        for _ in range(connections):
            s = socket.create_connection(("127.0.0.1", daemon.port))
            s.sendall(b"SEND held {%d}\r\n" % size + b"y" * (size - 1))
            socks.append(s)
        # Each payload is in the server once a later request on it would be read.
        time.sleep(0.5)
        loop = Loop()
        moved = round_trips(loop, daemon.port, 2, 100, "other")
        control.wait_info("connections", connections + 1)
        held = daemon.rss_kib()
        for s in socks:
            s.close()
        control.wait_info("connections", 1)
        after = daemon.rss_kib()
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    per = (held - base) / connections
    check_memory(per <= (size + 65536) / 1024 + 128, f"{per:.0f} KiB per connection holding a payload")
    check_memory(after - base < (held - base) / 4, f"RSS {after - base} KiB above the start after they left")
    log(f"held payloads: {connections} connections each holding 1 MiB - 1 byte of a counted payload: "
        f"{per:.0f} KiB RSS each (max_payload + max_line is the bound), {after - base:+d} KiB once they left")
    return {"connections": connections, "kib_per_connection": round(per), "values_moved_meanwhile": moved,
            "rss_kib": {"before": base, "holding": held, "after": after}}


def flood_make(max_channels=20_000, extra=20_000, log=print):
    """MAKE with distinct names past --max-channels: exactly max_channels
    made, then ERR LIMIT; memory grows with channels made, not with requests."""
    daemon = Daemon("--max-channels", max_channels)
    try:
        control = Control(daemon.port)
        base = daemon.rss_kib()
        loop = Loop()
        replies = {"OK": 0, "LIMIT": 0, "other": []}

        def on_reply(conn, reply):
            if reply.kind == "OK":
                replies["OK"] += 1
            elif reply.line.startswith("ERR LIMIT too many channels"):
                replies["LIMIT"] += 1
            else:
                replies["other"].append(reply.line)

        c = Conn(loop, daemon.port, on_reply=on_reply)
        total = max_channels + extra
        batch = 2000
        sent = 0
        measured = None
        while sent < total:
            n = min(batch, total - sent)
            c.send(b"".join(b"MAKE flood-%d\r\n" % i for i in range(sent, sent + n)))
            sent += n
            loop.run_until(lambda: replies["OK"] + replies["LIMIT"] + len(replies["other"]) >= sent - batch,
                           60, "MAKE flood", progress=lambda: replies["OK"] + replies["LIMIT"])
            if measured is None and sent >= max_channels + batch:
                loop.run_until(lambda: replies["OK"] + replies["LIMIT"] >= sent, 60, "MAKE flood")
                measured = daemon.rss_kib()
        loop.run_until(lambda: replies["OK"] + replies["LIMIT"] + len(replies["other"]) >= total, 60, "MAKE flood")
        check(not replies["other"], f"unexpected replies: {replies['other'][:3]}")
        check(replies["OK"] == max_channels and replies["LIMIT"] == extra,
              f"{replies['OK']} made and {replies['LIMIT']} refused, expected {max_channels} and {extra}")
        at_limit = daemon.rss_kib()
        info = control.info()
        check(info["channels"] == max_channels, f"INFO channels={info['channels']}")
        # Other requests that would create a channel are refused too; the
        # server still serves the channels it has.
        for line in ("RECV brand-new NOWAIT", "SEND brand-new v", "CLOSE brand-new"):
            check(control.cmd(line).line.startswith("ERR LIMIT"), f"{line} at the channel limit")
        control.send("SELECT 2\r\nRECV flood-1\r\nRECV brand-new\r\n")
        check(control.reply().line.startswith("ERR LIMIT"), "SELECT at the channel limit")
        got = []
        c.on_reply = lambda conn, reply: got.append(reply)
        c.send(b"RECV flood-0\r\n")
        check(control.cmd("SEND flood-0 still-works").kind == "OK", "SEND on an existing channel at the limit")
        loop.run_until(lambda: got, 30, "RECV on an existing channel")
        check(got[0].payload == b"still-works", f"got {got[0]}")
        c.close()
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    figures = {"max_channels": max_channels, "made": replies["OK"], "refused": replies["LIMIT"],
               "rss_kib": {"before": base, "at_limit": measured, "after_refusals": at_limit},
               "kib_per_channel": round((measured - base) / max_channels, 2),
               "kib_growth_while_refusing": at_limit - measured}
    check_memory(at_limit - measured < 2048, f"RSS grew {at_limit - measured} KiB while only refusing")
    log(f"MAKE flood: {total} distinct names, {max_channels} made then {extra} ERR LIMIT; "
        f"{figures['kib_per_channel']} KiB RSS per channel, {figures['kib_growth_while_refusing']:+d} KiB while refusing")
    return figures


def flood_select_cases(lines=1_000_000, log=print):
    """A SELECT over the case limit and its million case lines: they are read
    and dropped, not kept (a fixed bug: each one used to be kept). The peak
    RSS (VmHWM) tells."""
    daemon = Daemon()
    try:
        control = Control(daemon.port)
        base = daemon.rss_kib()
        s = socket.create_connection(("127.0.0.1", daemon.port))
        s.sendall(b"SELECT %d\r\n" % lines)
        chunk = b"RECV x\r\nSEND y inline-value\r\n" * 5000
        for _ in range(lines // 10_000):
            s.sendall(chunk)
        s.sendall(b"PING\r\n")
        s.settimeout(120)
        got = b""
        while got.count(b"\r\n") < 2:
            data = s.recv(4096)
            check(data, "closed by the server")
            got += data
        check(got.startswith(b"ERR LIMIT SELECT %d cases above max_select_cases " % lines) and got.endswith(b"\r\nPONG\r\n"),
              f"got {got!r}")
        grown = daemon.peak_kib() - base
        s.close()
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    check_memory(grown < 4096, f"peak RSS grew {grown} KiB over {lines} case lines")
    log(f"SELECT case-line flood: {lines} case lines ({lines * 14 // 1_000_000} MB) for a SELECT over the limit; "
        f"peak RSS {grown:+d} KiB")
    return {"case_lines": lines, "peak_rss_growth_kib": grown}


def replay_corpus(limit=500, log=print):
    """Every fuzzer corpus input (the grown corpus when there is one, else the
    seeds) sent raw on its own connection, then end of input; the server must
    stay up and clean up after them."""
    files = sorted(glob.glob(os.path.join(ROOT, ".build-fuzz", "corpus", "*")))
    files = files or sorted(glob.glob(os.path.join(ROOT, "Tests", "Fuzz", "corpus", "*")))
    files = files[:limit]
    daemon = Daemon()
    try:
        control = Control(daemon.port)
        loop = Loop()
        closed = {"n": 0}
        for path in files:
            with open(path, "rb") as f:
                data = f.read()[1:]
            c = Conn(loop, daemon.port, on_open=lambda c: (c.send(c.data), c.shutdown_write()),
                     on_close=lambda c, reason: closed.__setitem__("n", closed["n"] + 1))
            c.data = data
            if closed["n"] < len(files):
                loop.step(0)
        loop.run_until(lambda: closed["n"] == len(files), 60, "corpus replay", progress=lambda: closed["n"])
        check(control.cmd("PING").kind == "PONG", "PING after the replay")
        control.wait_info("connections", 1)
        info = control.wait_info("tasklets_blocked", 0)
        _, listed = control.channels()
        check(all(f["senders"] == 0 and f["receivers"] == 0 for _, f in listed), "chanops left behind")
        control.close()
    finally:
        status, text = daemon.stop()
    check(status == 0, f"chand exited {status}: {text[-2000:]}")
    log(f"corpus replay: {len(files)} fuzzer inputs over sockets; {info['commands']} commands, "
        f"{sum(v for k, v in info.items() if k.startswith('errors_'))} errors; server clean afterwards")
    return {"inputs": len(files), "commands": info["commands"]}
