package chand

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"
)

var ctx = context.Background()

// > RECV r (another connection)   > SEND r hello   < MSG r 5 hello   < OK
func TestSendWaitsForTheReceiver(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "r"))
	recv := inBackground(func() result { v, err := ch.Recv(ctx); return result{v: v, err: err} })
	waitFor(t, "a receiver waiting", func() bool { return stat(t, ch).Receivers == 1 })
	if err := ch.Send(ctx, []byte("hello")); err != nil {
		t.Fatal(err)
	}
	if r := recv(t); r.err != nil || string(r.v) != "hello" {
		t.Fatalf("Recv = %q, %v", r.v, r.err)
	}
	// And the other way round: a sender waits for a receiver.
	send := inBackground(func() result { return result{err: ch.Send(ctx, []byte("second"))} })
	waitFor(t, "a sender waiting", func() bool { s := stat(t, ch); return s.Senders == 1 && s.Balance == 1 })
	if v, err := ch.Recv(ctx); err != nil || string(v) != "second" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
	if r := send(t); r.err != nil {
		t.Fatal(r.err)
	}
}

// > MAKE b CAP 2   > SEND b x   > SEND b y   > STAT b   < ... len=2 ...   > RECV b (twice)
func TestBufferedChannel(t *testing.T) {
	c := dial(t)
	n := name(t, "b")
	if err := c.Make(ctx, n, Cap(2)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	for _, v := range []string{"x", "y"} {
		if err := ch.Send(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	s := stat(t, ch)
	want := Stat{Name: n, Cap: 2, Len: 2, State: Open, Preference: Receiver, Persistent: true, Sent: 2, Rate: s.Rate}
	if s != want {
		t.Fatalf("STAT = %+v\nwant %+v", s, want)
	}
	for _, v := range []string{"x", "y"} {
		if got, err := ch.Recv(ctx); err != nil || string(got) != v {
			t.Fatalf("Recv = %q, %v; want %q", got, err, v)
		}
	}
}

// > MAKE m CAP 2   > MAKE m CAP 2   < OK   > MAKE m CAP 3   < ERR EXISTS ...
func TestMakeExistsAndPreference(t *testing.T) {
	c := dial(t)
	n := name(t, "m")
	for i := 0; i < 2; i++ {
		if err := c.Make(ctx, n, Cap(2)); err != nil {
			t.Fatal(err)
		}
	}
	err := c.Make(ctx, n, Cap(3))
	var se *ServerError
	if !errors.Is(err, ErrExists) || !errors.As(err, &se) || se.Code != "EXISTS" {
		t.Fatalf("MAKE with another capacity: %v, want ErrExists", err)
	}
	p := name(t, "p")
	if err := c.Make(ctx, p, Prefer(Sender)); err != nil {
		t.Fatal(err)
	}
	if s := stat(t, c.Channel(p)); s.Preference != Sender || s.Cap != 0 || !s.Persistent {
		t.Fatalf("STAT = %+v", s)
	}
	np := name(t, "none")
	if err := c.Make(ctx, np, Prefer(NoPreference), Cap(1)); err != nil {
		t.Fatal(err)
	}
	if s := stat(t, c.Channel(np)); s.Preference != NoPreference || s.Cap != 1 {
		t.Fatalf("STAT = %+v", s)
	}
	if err := c.Make(ctx, n, Cap(-1)); err == nil {
		t.Fatal("negative capacity accepted")
	}
	if err := c.Make(ctx, n, Cap(1<<40)); !isCode(err, "LIMIT") {
		t.Fatalf("huge capacity: %v, want ERR LIMIT", err)
	}
	if err := c.Ping(ctx); err != nil { // the Client goes on after an ERR
		t.Fatal(err)
	}
}

func isCode(err error, code string) bool {
	var se *ServerError
	return errors.As(err, &se) && se.Code == code
}

// > SEND c x   > CLOSE c   > SEND c late   < ERR CLOSED   > RECV c   < MSG c 1 x   > RECV c   < CLOSED c
func TestCloseDrains(t *testing.T) {
	c := dial(t)
	n := name(t, "c")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	if err := ch.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := ch.Close(ctx); err != nil {
			t.Fatal(err)
		}
	}
	if s := stat(t, ch); s.State != Closing || s.Len != 1 {
		t.Fatalf("STAT = %+v", s)
	}
	if err := ch.Send(ctx, []byte("late")); err != ErrClosed {
		t.Fatalf("Send on a closing channel: %v", err)
	}
	if err := ch.Throw(ctx, []byte("late")); err != ErrClosed {
		t.Fatalf("Throw on a closing channel: %v", err)
	}
	if v, err := ch.Recv(ctx); err != nil || string(v) != "x" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
	if _, err := ch.Recv(ctx); err != ErrClosed {
		t.Fatalf("Recv on a drained channel: %v", err)
	}
	if s := stat(t, ch); s.State != Closed {
		t.Fatalf("STAT = %+v", s)
	}
}

// A receiver blocked when the channel closes gets ErrClosed.
func TestCloseWakesReceivers(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "w"))
	recv := inBackground(func() result { _, err := ch.Recv(ctx); return result{err: err} })
	waitFor(t, "a receiver waiting", func() bool { return stat(t, ch).Receivers == 1 })
	if err := ch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if r := recv(t); r.err != ErrClosed {
		t.Fatalf("Recv = %v", r.err)
	}
}

// > THROW t {9}   (a receiver)  < EXC t 9 bad thing
func TestThrowArrivesAsRemoteError(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "t"))
	recv := inBackground(func() result { v, err := ch.Recv(ctx); return result{v: v, err: err} })
	if err := ch.Throw(ctx, []byte("bad thing")); err != nil {
		t.Fatal(err)
	}
	r := recv(t)
	var re *RemoteError
	if !errors.As(r.err, &re) || string(re.Payload) != "bad thing" || re.Channel != ch.Name() || r.v != nil {
		t.Fatalf("Recv = %q, %v", r.v, r.err)
	}
}

// Values are any bytes: CR, LF, NUL, braces, empty.
func TestBinaryValues(t *testing.T) {
	c := dial(t)
	n := name(t, "bin")
	if err := c.Make(ctx, n, Cap(4)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	values := [][]byte{[]byte("a\r\nb\x00\n"), {}, []byte("{5}"), bytes.Repeat([]byte{0xff}, 100000)}
	for _, v := range values {
		if err := ch.Send(ctx, v); err != nil {
			t.Fatal(err)
		}
	}
	for _, want := range values {
		got, err := ch.Recv(ctx)
		if err != nil || !bytes.Equal(got, want) || got == nil {
			t.Fatalf("Recv = %d bytes %v; want %d bytes", len(got), err, len(want))
		}
	}
}

// Bad names are refused before a byte is sent; a value above max_payload
// is the server's ERR TOOBIG, and the Client goes on.
func TestRefusals(t *testing.T) {
	c := dial(t)
	for _, bad := range []string{"", "has space", "new\nline", string(bytes.Repeat([]byte("x"), 256)), "é"} {
		if err := c.Channel(bad).Send(ctx, []byte("x")); err == nil {
			t.Fatalf("Send on %q accepted", bad)
		}
		if _, err := c.Channel(bad).Recv(ctx); err == nil {
			t.Fatalf("Recv on %q accepted", bad)
		}
		if err := c.Make(ctx, bad); err == nil {
			t.Fatalf("Make of %q accepted", bad)
		}
	}
	hello, err := c.Hello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	max, err := strconv.Atoi(hello["max_payload"])
	if err != nil || hello["proto"] != "1" {
		t.Fatalf("HELLO = %v", hello)
	}
	ch := c.Channel(name(t, "big"))
	if err := ch.Send(ctx, make([]byte, max+1)); !isCode(err, "TOOBIG") {
		t.Fatalf("Send above max_payload: %v", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestPingHelloInfo(t *testing.T) {
	c := dial(t)
	if err := c.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	info, err := c.Info(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := info["connections"]; !ok {
		t.Fatalf("INFO = %v", info)
	}
	if err := c.Ping(expired()); !errors.Is(err, context.Canceled) {
		t.Fatalf("Ping with an ended context: %v", err)
	}
}

// An already ended context makes an operation a poll (NOWAIT): it happens
// if it can at once, else the error is ErrTimeout and the context's error.
func TestExpiredContextPolls(t *testing.T) {
	c := dial(t)
	n := name(t, "poll")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	if _, err := ch.Recv(expired()); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Recv on an empty channel: %v", err)
	}
	if err := ch.Send(expired(), []byte("a")); err != nil {
		t.Fatalf("Send into room: %v", err)
	}
	if err := ch.Send(expired(), []byte("b")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("Send into a full buffer: %v", err)
	}
	if v, err := ch.Recv(expired()); err != nil || string(v) != "a" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
	deadline, cancel := context.WithDeadline(ctx, time.Now().Add(-time.Second))
	defer cancel()
	if _, _, err := c.Select(deadline, RecvCase(ch)); !errors.Is(err, ErrTimeout) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Select with a passed deadline: %v", err)
	}
	if s := stat(t, ch); s.Senders != 0 || s.Receivers != 0 {
		t.Fatalf("a poll left a waiter: %+v", s)
	}
}

// Cancelling a blocked Recv withdraws it: STAT shows no receiver left, and
// a later value is not taken by a ghost.
func TestCancelWhileBlocked(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "cancel"))
	cctx, cancel := context.WithCancel(ctx)
	recv := inBackground(func() result { v, err := ch.Recv(cctx); return result{v: v, err: err} })
	waitFor(t, "a receiver waiting", func() bool { return stat(t, ch).Receivers == 1 })
	cancel()
	if r := recv(t); r.err != context.Canceled {
		t.Fatalf("Recv = %q, %v; want context.Canceled", r.v, r.err)
	}
	waitFor(t, "no receiver left", func() bool { s := stat(t, ch); return s.Receivers == 0 && s.Balance == 0 })
	if err := ch.Send(expired(), []byte("x")); !errors.Is(err, ErrTimeout) {
		t.Fatalf("a send found a receiver after the cancel: %v", err)
	}
	if err := c.Ping(ctx); err != nil { // the Client dials anew
		t.Fatal(err)
	}
}

// A deadline passing in a blocked Select withdraws every case.
func TestDeadlineWhileBlockedInSelect(t *testing.T) {
	c := dial(t)
	a, b := c.Channel(name(t, "a")), c.Channel(name(t, "b"))
	dctx, cancel := context.WithTimeout(ctx, 200*time.Millisecond)
	defer cancel()
	i, v, err := c.Select(dctx, RecvCase(a), SendCase(b, []byte("x")))
	if err != context.DeadlineExceeded || i != -1 || v != nil {
		t.Fatalf("Select = %d, %q, %v; want context.DeadlineExceeded", i, v, err)
	}
	waitFor(t, "no waiter left", func() bool {
		return stat(t, a).Receivers == 0 && stat(t, b).Senders == 0
	})
	// A blocked Send, too.
	sctx, cancel2 := context.WithCancel(ctx)
	send := inBackground(func() result { return result{err: b.Send(sctx, []byte("y"))} })
	waitFor(t, "a sender waiting", func() bool { return stat(t, b).Senders == 1 })
	cancel2()
	if r := send(t); r.err != context.Canceled {
		t.Fatalf("Send = %v", r.err)
	}
	waitFor(t, "no sender left", func() bool { return stat(t, b).Senders == 0 })
	if _, err := b.Recv(expired()); !errors.Is(err, ErrTimeout) {
		t.Fatalf("the withdrawn send's value arrived: %v", err)
	}
}

// Many goroutines on one Client: every value sent arrives exactly once.
func TestConcurrentGoroutinesOnOneClient(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "many"))
	const senders, receivers, each = 8, 8, 50
	var got sync.Map
	var wg sync.WaitGroup
	errs := make(chan error, senders+receivers)
	for r := 0; r < receivers; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				v, err := ch.Recv(ctx)
				if err == ErrClosed {
					return
				}
				if err != nil {
					errs <- err
					return
				}
				if _, dup := got.LoadOrStore(string(v), true); dup {
					errs <- fmt.Errorf("%q received twice", v)
				}
			}
		}()
	}
	// Each blocked goroutine is a tasklet of its own on the server.
	waitFor(t, "every receiver waiting", func() bool { return stat(t, ch).Receivers == receivers })
	var sends sync.WaitGroup
	for s := 0; s < senders; s++ {
		sends.Add(1)
		go func(s int) {
			defer sends.Done()
			for i := 0; i < each; i++ {
				if err := ch.Send(ctx, []byte(fmt.Sprintf("%d-%d", s, i))); err != nil {
					errs <- err
					return
				}
			}
		}(s)
	}
	sends.Wait()
	if err := ch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	count := 0
	got.Range(func(_, _ any) bool { count++; return true })
	if count != senders*each {
		t.Fatalf("received %d distinct values, want %d", count, senders*each)
	}
}

// Closing the Client ends its blocked operations and refuses later ones.
func TestClientClose(t *testing.T) {
	c, err := Dial(ctx, serverAddress)
	if err != nil {
		t.Fatal(err)
	}
	other := dial(t)
	n := name(t, "cc")
	recv := inBackground(func() result { _, err := c.Channel(n).Recv(ctx); return result{err: err} })
	waitFor(t, "a receiver waiting", func() bool { return stat(t, other.Channel(n)).Receivers == 1 })
	c.Close()
	if r := recv(t); !errors.Is(r.err, ErrClientClosed) {
		t.Fatalf("blocked Recv after Close: %v", r.err)
	}
	waitFor(t, "no receiver left", func() bool { return stat(t, other.Channel(n)).Receivers == 0 })
	if err := c.Ping(ctx); err != ErrClientClosed {
		t.Fatalf("Ping after Close: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestDialErrors(t *testing.T) {
	if _, err := Dial(ctx, "127.0.0.1:x"); err == nil {
		t.Fatal("a bad port accepted")
	}
	if _, err := Dial(expired(), serverAddress); err == nil {
		t.Fatal("Dial with an ended context succeeded")
	}
	port := serverAddress[bytes.LastIndexByte([]byte(serverAddress), ':'):]
	for _, a := range []string{"127.0.0.1" + port, port, "[::1]" + port} {
		c, err := Dial(ctx, a)
		if a == "[::1]"+port && err != nil {
			continue // the daemon listens on 127.0.0.1 only
		}
		if err != nil {
			t.Fatalf("Dial(%q): %v", a, err)
		}
		if err := c.Ping(ctx); err != nil {
			t.Fatal(err)
		}
		c.Close()
	}
}

// Receives cancelled at varied moments, many just as a value arrives,
// while one sender sends 1..N: every value whose Send returned nil is
// received, in order, none lost (a withdrawal ends only the client's side
// of the connection, so a reply already on its way is still read).
func TestCancellationLosesNoValue(t *testing.T) {
	c := dial(t)
	ch := c.Channel(name(t, "race"))
	const n = 300
	sent := make(chan error, 1)
	go func() {
		for i := 1; i <= n; i++ {
			if err := ch.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				sent <- err
				return
			}
		}
		sent <- nil
	}()
	var got []int
	senderDone := false
	attempts := 0
	for len(got) < n && attempts < 1000000 {
		attempts++
		rctx, cancel := context.WithTimeout(ctx, time.Duration(1+attempts%13)*40*time.Microsecond)
		if senderDone { // every value was sent: whatever is not here now is lost
			rctx = expired()
		}
		v, err := ch.Recv(rctx)
		cancel()
		if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
			if senderDone {
				break
			}
			select {
			case err := <-sent:
				if err != nil {
					t.Fatal(err)
				}
				senderDone = true
			default:
			}
			continue
		}
		if err != nil {
			t.Fatal(err)
		}
		i, _ := strconv.Atoi(string(v))
		got = append(got, i)
	}
	t.Logf("%d values received, %d receives", len(got), attempts)
	for i, v := range got {
		if v != i+1 {
			t.Fatalf("value %d is %d: a value was lost or reordered", i+1, v)
		}
	}
	if len(got) != n {
		t.Fatalf("received %d values of %d", len(got), n)
	}
}
