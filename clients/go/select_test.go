package chand

import (
	"bytes"
	"context"
	"errors"
	"math"
	"testing"
)

// Nil cases are skipped (and counted in the index); all nil is an error at once.
func TestSelectNilCases(t *testing.T) {
	c := dial(t)
	if _, _, err := c.Select(ctx); err != ErrNoCases {
		t.Fatalf("Select() = %v", err)
	}
	if _, _, err := c.Select(ctx, nil, RecvCase(nil), SendCase(nil, []byte("x"))); err != ErrNoCases {
		t.Fatalf("Select(nil cases) = %v", err)
	}
	n := name(t, "ready")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		t.Fatal(err)
	}
	ready := c.Channel(n)
	if err := ready.Send(ctx, []byte("v")); err != nil {
		t.Fatal(err)
	}
	i, v, err := c.Select(ctx, nil, RecvCase(c.Channel(name(t, "empty"))), RecvCase(nil), RecvCase(ready))
	if i != 3 || string(v) != "v" || err != nil {
		t.Fatalf("Select = %d, %q, %v; want 3, v", i, v, err)
	}
	other := dial(t)
	if _, _, err := c.Select(ctx, RecvCase(other.Channel(n))); err == nil {
		t.Fatal("a case on another Client's channel accepted")
	}
}

// > SELECT 2   RECV a   SEND b {1} y   (a receiver on b)   < SELECTED 1 OK
func TestSelectSendCase(t *testing.T) {
	c := dial(t)
	a, b := c.Channel(name(t, "a")), c.Channel(name(t, "b"))
	recv := inBackground(func() result { v, err := b.Recv(ctx); return result{v: v, err: err} })
	waitFor(t, "a receiver on b", func() bool { return stat(t, b).Receivers == 1 })
	i, v, err := c.Select(ctx, RecvCase(a), SendCase(b, []byte("y")))
	if i != 1 || v != nil || err != nil {
		t.Fatalf("Select = %d, %q, %v", i, v, err)
	}
	if r := recv(t); string(r.v) != "y" || r.err != nil {
		t.Fatalf("Recv = %q, %v", r.v, r.err)
	}
	if s := stat(t, a); s.Receivers != 0 {
		t.Fatalf("the other case stayed queued: %+v", s)
	}
}

// A send case on a closed channel and a receive case on a closed one both
// fire with ErrClosed; a receive case that gets a thrown value, *RemoteError.
func TestSelectOutcomes(t *testing.T) {
	c := dial(t)
	closed := c.Channel(name(t, "closed"))
	if err := closed.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if i, _, err := c.Select(ctx, SendCase(closed, []byte("x"))); i != 0 || err != ErrClosed {
		t.Fatalf("send case on a closed channel: %d, %v", i, err)
	}
	if i, _, err := c.Select(ctx, nil, RecvCase(closed)); i != 1 || err != ErrClosed {
		t.Fatalf("receive case on a closed channel: %d, %v", i, err)
	}
	thrown := c.Channel(name(t, "thrown"))
	send := inBackground(func() result { return result{err: thrown.Throw(ctx, []byte("oops"))} })
	waitFor(t, "a thrower waiting", func() bool { return stat(t, thrown).Senders == 1 })
	i, v, err := c.Select(ctx, RecvCase(thrown))
	var re *RemoteError
	if i != 0 || v != nil || !errors.As(err, &re) || string(re.Payload) != "oops" {
		t.Fatalf("Select = %d, %q, %v", i, v, err)
	}
	if r := send(t); r.err != nil {
		t.Fatal(r.err)
	}
	// ThrowCase delivers an exception, too.
	recv := inBackground(func() result { _, err := thrown.Recv(ctx); return result{err: err} })
	waitFor(t, "a receiver waiting", func() bool { return stat(t, thrown).Receivers == 1 })
	if i, _, err := c.Select(ctx, ThrowCase(thrown, []byte("again"))); i != 0 || err != nil {
		t.Fatalf("ThrowCase: %d, %v", i, err)
	}
	if r := recv(t); !errors.As(r.err, &re) || string(re.Payload) != "again" {
		t.Fatalf("Recv = %v", r.err)
	}
}

// Two goroutines each select {SEND x, RECV x} on one channel: one sends,
// the other receives its value; nobody receives their own. Alone, such a
// select does not pair with itself.
func TestSelectSendAndRecvOnOneChannel(t *testing.T) {
	c := dial(t)
	x := c.Channel(name(t, "x"))
	if _, _, err := c.Select(expired(), SendCase(x, []byte("me")), RecvCase(x)); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a lone select paired with itself: %v", err)
	}
	for round := 0; round < 20; round++ {
		both := func(id string) func() result {
			return func() result {
				i, v, err := c.Select(ctx, SendCase(x, []byte(id)), RecvCase(x))
				return result{i: i, v: v, err: err}
			}
		}
		first := inBackground(both("A"))
		waitFor(t, "the first select waiting on both sides", func() bool {
			s := stat(t, x)
			return s.Senders == 1 && s.Receivers == 1
		})
		second := inBackground(both("B"))
		ra, rb := first(t), second(t)
		if ra.err != nil || rb.err != nil {
			t.Fatalf("round %d: %v, %v", round, ra.err, rb.err)
		}
		switch {
		case ra.i == 0 && rb.i == 1 && string(rb.v) == "A" && ra.v == nil:
		case ra.i == 1 && rb.i == 0 && string(ra.v) == "B" && rb.v == nil:
		default:
			t.Fatalf("round %d: A got (%d, %q), B got (%d, %q)", round, ra.i, ra.v, rb.i, rb.v)
		}
		if s := stat(t, x); s.Senders != 0 || s.Receivers != 0 {
			t.Fatalf("round %d: cases left queued: %+v", round, s)
		}
	}
}

// With three ready receive cases (behind a nil case and a never-ready one)
// each is chosen about a third of the time: chi-square over 1500 selects
// with 2 degrees of freedom below 13.82 (p = 0.001). The daemon's seed is
// fixed, so the run is reproducible.
func TestSelectFairness(t *testing.T) {
	c := dial(t)
	const selects, perChannel = 1500, 1000
	var ready []*Channel
	for k := 0; k < 3; k++ {
		n := name(t, "ready")
		if err := c.Make(ctx, n, Cap(perChannel)); err != nil {
			t.Fatal(err)
		}
		ch := c.Channel(n)
		for i := 0; i < perChannel; i++ {
			if err := ch.Send(ctx, []byte{byte('a' + k)}); err != nil {
				t.Fatal(err)
			}
		}
		ready = append(ready, ch)
	}
	never := c.Channel(name(t, "never"))
	counts := make([]int, 5)
	for n := 0; n < selects; n++ {
		i, v, err := c.Select(ctx, nil, RecvCase(never), RecvCase(ready[0]), RecvCase(ready[1]), RecvCase(ready[2]))
		if err != nil || i < 2 || !bytes.Equal(v, []byte{byte('a' + i - 2)}) {
			t.Fatalf("Select = %d, %q, %v", i, v, err)
		}
		counts[i]++
	}
	expected := float64(selects) / 3
	chi2 := 0.0
	for _, n := range counts[2:] {
		d := float64(n) - expected
		chi2 += d * d / expected
	}
	t.Logf("counts %v, chi-square %.2f", counts[2:], chi2)
	if chi2 > 13.82 || math.IsNaN(chi2) {
		t.Fatalf("ready cases chosen %v times of %d: chi-square %.2f > 13.82", counts[2:], selects, chi2)
	}
	if s := stat(t, never); s.Receivers != 0 {
		t.Fatalf("the never-ready case stayed queued: %+v", s)
	}
}

// A select's cancellation leaves its context error, not a case.
func TestSelectCancelled(t *testing.T) {
	c := dial(t)
	a := c.Channel(name(t, "a"))
	cctx, cancel := context.WithCancel(ctx)
	sel := inBackground(func() result {
		i, v, err := c.Select(cctx, RecvCase(a), RecvCase(a))
		return result{i: i, v: v, err: err}
	})
	waitFor(t, "the select waiting", func() bool { return stat(t, a).Receivers > 0 })
	cancel()
	if r := sel(t); r.err != context.Canceled || r.i != -1 {
		t.Fatalf("Select = %d, %v", r.i, r.err)
	}
	waitFor(t, "no receiver left", func() bool { return stat(t, a).Receivers == 0 })
}
