"""Pike's concurrent prime sieve: a generator feeds 2, 3, 4, ... into a
chain of filters, one thread and one connection (one server-side tasklet)
per filter, joined by unbuffered channels. The generator stops at 71 and
closes its channel; every filter closes its output when its input is
closed, so the whole chain winds down and the main loop ends on Closed."""

import itertools

import chand

FIRST_20_PRIMES = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71]


def test_prime_sieve(connect, name, background):
    def generate(conn, out):
        ch = conn.channel(out)
        for i in range(2, 72):
            ch.send(i)
        ch.close()

    def sieve_filter(conn, source, sink, prime):
        out = conn.channel(sink)
        for value in conn.channel(source):
            if value % prime:
                out.send(value)
        out.close()

    threads = [background(generate, connect(serializer="json"), name("2"))]
    main = connect(serializer="json")
    source = name("2")
    primes = []
    for i in itertools.count():
        try:
            prime = main.channel(source).receive(timeout=10)
        except chand.Closed:
            break
        primes.append(prime)
        sink = name(f"after-{prime}")
        threads.append(background(sieve_filter, connect(serializer="json"), source, sink, prime))
        source = sink
    assert primes == FIRST_20_PRIMES
    for t in threads:
        t.result(10)
    assert len(threads) == 21
