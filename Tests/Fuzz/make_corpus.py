#!/usr/bin/env python3
"""Writes the fuzzer's seed corpus (Tests/Fuzz/corpus/) from readable
transcripts. Event bytes (see FuzzChand.swift): SW(n) switches connection,
CLOCK(n) moves the clock n*8 ms, RESET resets the current connection, EOF ends
its input. The first byte sets the chunk size and the connection count."""
import hashlib
import os

SW = lambda n: bytes([0xFF, n])
CLOCK = lambda n: bytes([0xFE, n])
RESET = b"\xFD"
EOF = b"\xFC"


def settings(connections, chunk=1):
    return bytes([((connections - 1) << 4) | (chunk - 1)])


SEEDS = {
    "session": settings(1, 3) + b"PING\nMAKE tasks CAP 2\nSEND tasks {5}\nhello\nSEND tasks second\n"
    b"STAT tasks\nRECV tasks\nSELECT 2 TIMEOUT 1000\nRECV nothing-here\nRECV tasks\nRECV tasks NOWAIT\n"
    b"CLOSE tasks\nRECV tasks\nSEND tasks late\nFROB\nQUIT\n",
    "rendezvous": settings(2) + b"RECV a\n" + SW(1) + b"SEND a hi\nSEND a {3}\r\nx\ny\r\n" + SW(0) + b"RECV a\nINFO\n",
    "select": settings(3, 5) + b"SELECT 3 TIMEOUT 100\nRECV a\nRECV b\nSEND c v\n" + SW(1)
    + b"SELECT 2\nSEND a 1\nRECV c\n" + SW(2) + b"SELECT 2 NOWAIT\nRECV b\nSEND b x\n" + CLOCK(20) + b"STAT a\n",
    "close-drain": settings(3) + b"MAKE q CAP 2 PREFER SENDER\nSEND q 1\nSEND q 2\nSEND q 3\n" + SW(1)
    + b"CLOSE q\nRECV q\nRECV q\nRECV q\nRECV q\nSEND q late\n" + SW(2) + b"RECV q\nCHANNELS\n",
    "preference": settings(4, 2) + b"MAKE n PREFER NONE\nMAKE s prefer sender\nRECV n\n" + SW(1) + b"SEND n 1\nSEND s 2\n"
    + SW(2) + b"RECV s\nTHROW n e\n" + SW(3) + b"RECV n\n",
    "errors": settings(1, 7) + b"SEND big {99}\r\n" + b"x" * 99 + b"\r\nRECV " + b"n" * 70 + b"\nRECV bad\x7fname\n"
    b"SELECT 9\nRECV a\nRECV a\nRECV a\nRECV a\nRECV a\nRECV a\nRECV a\nRECV a\nRECV a\n"
    b"SELECT 2\nSEND a {20}\n" + b"y" * 20 + b"\nSEND a {20}\n" + b"z" * 20 + b"\n"
    b"MAKE x CAP 5\nRECV x TIMEOUT 99999999999\nSELECT 0\nSELECT x\nRECV a\n",
    "disconnects": settings(3) + b"SELECT 2\nRECV a\nSEND b v\n" + SW(1) + b"SEND a v\n" + SW(0) + RESET
    + SW(2) + b"SEND b w\n" + RESET + SW(1) + b"RECV b NOWAIT\nSEND a {4}\r\nab" + RESET,
    "end-of-input": settings(2) + b"PING\nRECV x\nPING\n" + EOF + SW(1) + b"SEND x v\nMAKE b CAP 1\nSEND b 1\nSEND b 2\n"
    + EOF + SW(0) + b"RECV b\nRECV b\n",
    "channel-limit": settings(2, 4) + b"".join(b"MAKE c%d\n" % i for i in range(14)) + b"RECV fresh\nCLOSE c0\n"
    + EOF + b"SELECT 2\nRECV c1\nRECV other\n",
    "timeouts": settings(2) + b"RECV t TIMEOUT 10\n" + SW(1) + b"SELECT 2 TIMEOUT 50\nRECV t\nSEND u v\n" + CLOCK(2)
    + CLOCK(7) + b"PING\n" + SW(0) + b"RECV t TIMEOUT 1\n" + CLOCK(1),
    "pipelined": settings(2, 16) + b"SEND p a\r\nSEND p b\r\nRECV p\r\nPING\r\n" + SW(1) + b"RECV p\r\nRECV p\r\nSEND p c\r\n",
}

if __name__ == "__main__":
    out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
    os.makedirs(out, exist_ok=True)
    for name, data in SEEDS.items():
        with open(os.path.join(out, name), "wb") as f:
            f.write(data)
    print(f"wrote {len(SEEDS)} seeds to {out}")
