package chand

import (
	"context"
	"errors"
	"testing"
)

// Handoffs between two goroutines of one Client on an unbuffered channel:
// each is a SEND and a RECV on two pooled connections.
func BenchmarkRendezvous(b *testing.B) {
	c, err := Dial(ctx, serverAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ch := c.Channel(benchName(b, "r"))
	done := make(chan error, 1)
	go func() {
		for i := 0; i < b.N; i++ {
			if _, err := ch.Recv(ctx); err != nil {
				done <- err
				return
			}
		}
		done <- nil
	}()
	v := []byte("value")
	for i := 0; i < b.N; i++ {
		if err := ch.Send(ctx, v); err != nil {
			b.Fatal(err)
		}
	}
	if err := <-done; err != nil {
		b.Fatal(err)
	}
}

// A select over two ready buffered channels, one round trip each.
func BenchmarkSelectReady(b *testing.B) {
	c, err := Dial(ctx, serverAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	n := benchName(b, "s")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		b.Fatal(err)
	}
	ch := c.Channel(n)
	for i := 0; i < b.N; i++ {
		if _, _, err := c.Select(ctx, SendCase(ch, []byte("x")), RecvCase(ch)); err != nil {
			b.Fatal(err)
		}
	}
}

// A receive withdrawn by its context: the connection is ended and the next
// operation dials anew.
func BenchmarkCancelledRecv(b *testing.B) {
	c, err := Dial(ctx, serverAddress)
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	ch := c.Channel(benchName(b, "c"))
	for i := 0; i < b.N; i++ {
		cctx, cancel := context.WithCancel(ctx)
		go cancel()
		if _, err := ch.Recv(cctx); err != nil && !errors.Is(err, context.Canceled) {
			b.Fatal(err)
		}
	}
}

func benchName(b *testing.B, suffix string) string {
	return "go-bench-" + b.Name() + "-" + suffix + "-" + serverAddress
}
