package chand

import (
	"bufio"
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Acknowledged delivery (protocol.md: RECV <chan> ACK, MSG <chan> <n> <tag>,
// ACK <tag>, NACK <tag>). The tests against the daemon skip when its HELLO
// has no max_held (a server without ACK); the transcript tests against a
// fake server always run.

func needAck(t *testing.T, c *Client) {
	t.Helper()
	hello, err := c.Hello(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := hello["max_held"]; !ok {
		t.Skip("this chand has no acknowledged delivery (HELLO without max_held)")
	}
}

// The sender's OK comes only at the receiver's ACK; until then STAT counts
// the value as held, not the sender as waiting.
func TestAckCompletesTheSend(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	ch := c.Channel(name(t, "q"))
	sent := make(chan error, 1)
	go func() { sent <- ch.Send(ctx, []byte("job")) }()
	waitFor(t, "a sender waiting", func() bool { return stat(t, ch).Senders == 1 })
	v, d, err := ch.RecvHeld(ctx)
	if err != nil || string(v) != "job" || d == nil || d.Tag() == 0 {
		t.Fatalf("RecvHeld = %q, %v, %v", v, d, err)
	}
	if s := stat(t, ch); s.Held != 1 || s.Senders != 0 || s.Balance != 0 {
		t.Fatalf("STAT while held = %+v", s)
	}
	select {
	case err := <-sent:
		t.Fatalf("the send completed before the ACK: %v", err)
	default:
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-sent:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the send did not complete after the ACK")
	}
	if s := stat(t, ch); s.Held != 0 {
		t.Fatalf("STAT after ACK = %+v", s)
	}
	if err := d.Ack(); err != ErrSettled {
		t.Fatalf("second Ack = %v", err)
	}
	if err := d.Nack(); err != ErrSettled {
		t.Fatalf("Nack after Ack = %v", err)
	}
}

// A NACKed value goes back to the front of its channel.
func TestNackGivesTheValueBack(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	n := name(t, "b")
	if err := c.Make(ctx, n, Cap(2)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	for _, v := range []string{"first", "second"} {
		if err := ch.Send(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	v, d, err := ch.RecvHeld(ctx)
	if err != nil || string(v) != "first" {
		t.Fatalf("RecvHeld = %q, %v", v, err)
	}
	if err := d.Nack(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the value back in the buffer", func() bool { s := stat(t, ch); return s.Len == 2 && s.Held == 0 })
	v, d, err = ch.RecvHeld(ctx)
	if err != nil || string(v) != "first" {
		t.Fatalf("RecvHeld after NACK = %q, %v; want first again", v, err)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	if v, err := ch.Recv(ctx); err != nil || string(v) != "second" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
}

// A value held by a Client that closes comes back to the channel.
func TestHolderGoneGivesTheValueBack(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	n := name(t, "gone")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		t.Fatal(err)
	}
	if err := c.Channel(n).Send(ctx, []byte("v")); err != nil {
		t.Fatal(err)
	}
	holder, err := Dial(ctx, serverAddress)
	if err != nil {
		t.Fatal(err)
	}
	v, d, err := holder.Channel(n).RecvHeld(ctx)
	if err != nil || string(v) != "v" || d == nil {
		t.Fatalf("RecvHeld = %q, %v", v, err)
	}
	holder.Close()
	waitFor(t, "the value back", func() bool { s := stat(t, c.Channel(n)); return s.Held == 0 && s.Len == 1 })
	if v, err := c.Channel(n).Recv(ctx); err != nil || string(v) != "v" {
		t.Fatalf("Recv = %q, %v", v, err)
	}
	if err := d.Ack(); err == nil {
		t.Fatal("Ack on a closed Client succeeded")
	}
}

// The environment of a holder process: the daemon's address, the channel.
const (
	holderAddress = "CHAND_GO_HOLDER_ADDR"
	holderChannel = "CHAND_GO_HOLDER_CHANNEL"
)

// A helper process (run by TestKilledHolderGivesTheValueBack): it receives
// one value with ACK, says so, and waits to be killed.
func TestHolderProcess(t *testing.T) {
	if os.Getenv(holderAddress) == "" {
		t.Skip("run as a helper process only")
	}
	c := dial(t)
	v, _, err := c.Channel(os.Getenv(holderChannel)).RecvHeld(ctx)
	if err != nil {
		t.Fatal(err)
	}
	os.Stdout.WriteString("held " + string(v) + "\n")
	time.Sleep(time.Minute)
}

// A receiver process killed with SIGKILL while it holds a value: the value
// comes back to the front of its channel.
func TestKilledHolderGivesTheValueBack(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	n := name(t, "k")
	if err := c.Make(ctx, n, Cap(2)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	for _, v := range []string{"first", "second"} {
		if err := ch.Send(ctx, []byte(v)); err != nil {
			t.Fatal(err)
		}
	}
	holder := exec.Command(os.Args[0], "-test.run=^TestHolderProcess$")
	holder.Env = append(os.Environ(), holderAddress+"="+serverAddress, holderChannel+"="+n)
	out, err := holder.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := holder.Start(); err != nil {
		t.Fatal(err)
	}
	defer holder.Wait()
	defer holder.Process.Kill()
	said := make(chan string, 1)
	go func() { line, _ := bufio.NewReader(out).ReadString('\n'); said <- line }()
	select {
	case line := <-said:
		if strings.TrimSpace(line) != "held first" {
			t.Fatalf("holder said %q", line)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the holder did not receive within 30 s")
	}
	if s := stat(t, ch); s.Held != 1 || s.Len != 1 {
		t.Fatalf("STAT while held = %+v", s)
	}
	holder.Process.Kill() // SIGKILL
	waitFor(t, "the value back", func() bool { s := stat(t, ch); return s.Held == 0 && s.Len == 2 })
	for _, want := range []string{"first", "second"} {
		if v, err := ch.Recv(ctx); err != nil || string(v) != want {
			t.Fatalf("Recv = %q, %v; want %q", v, err, want)
		}
	}
}

// SELECT ... ACK: a receive case's value comes with a Delivery, a send
// case's completion without.
func TestSelectHeld(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	n := name(t, "s")
	if err := c.Make(ctx, n, Cap(1)); err != nil {
		t.Fatal(err)
	}
	ch := c.Channel(n)
	if err := ch.Send(ctx, []byte("x")); err != nil {
		t.Fatal(err)
	}
	i, v, d, err := c.SelectHeld(ctx, RecvCase(c.Channel(name(t, "empty"))), RecvCase(ch))
	if i != 1 || string(v) != "x" || d == nil || err != nil {
		t.Fatalf("SelectHeld = %d, %q, %v, %v", i, v, d, err)
	}
	if s := stat(t, ch); s.Held != 1 {
		t.Fatalf("STAT = %+v", s)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	i, v, d, err = c.SelectHeld(ctx, SendCase(ch, []byte("y")))
	if i != 0 || v != nil || d != nil || err != nil {
		t.Fatalf("SelectHeld send case = %d, %q, %v, %v", i, v, d, err)
	}
}

// A thrown value is held too; a closed channel and a cancelled receive
// hold nothing.
func TestRecvHeldOutcomes(t *testing.T) {
	c := dial(t)
	needAck(t, c)
	ch := c.Channel(name(t, "o"))
	go ch.Throw(ctx, []byte("bad"))
	_, d, err := ch.RecvHeld(ctx)
	var re *RemoteError
	if !errors.As(err, &re) || string(re.Payload) != "bad" || d == nil {
		t.Fatalf("RecvHeld of a thrown value = %v, %v", d, err)
	}
	if err := d.Ack(); err != nil {
		t.Fatal(err)
	}
	cctx, cancel := context.WithCancel(ctx)
	var held *Delivery
	recv := inBackground(func() result {
		var err error
		_, held, err = ch.RecvHeld(cctx)
		return result{err: err}
	})
	waitFor(t, "a receiver waiting", func() bool { return stat(t, ch).Receivers == 1 })
	cancel()
	if r := recv(t); r.err != context.Canceled || held != nil {
		t.Fatalf("cancelled RecvHeld = %v, %v", held, r.err)
	}
	waitFor(t, "no receiver left", func() bool { return stat(t, ch).Receivers == 0 })
	if err := ch.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if _, d, err := ch.RecvHeld(ctx); err != ErrClosed || d != nil {
		t.Fatalf("RecvHeld on a closed channel = %v, %v", d, err)
	}
	if _, d, err := c.Channel(name(t, "empty")).RecvHeld(expired()); !errors.Is(err, ErrTimeout) || d != nil {
		t.Fatalf("RecvHeld with an ended context = %v, %v", d, err)
	}
}

// The bytes on the wire, against a fake server: the request carries ACK,
// the tag of the reply is the one acknowledged or given back.
func TestAckTranscript(t *testing.T) {
	for _, tc := range []struct {
		name    string
		reply   string
		op      func(c *Client) (*Delivery, error)
		settle  func(d *Delivery) error
		written string
	}{
		{"RECV ACK, then ACK", "MSG q 3 7\r\nabc\r\n",
			func(c *Client) (*Delivery, error) { _, d, err := c.Channel("q").RecvHeld(ctx); return d, err },
			(*Delivery).Ack, "RECV q ACK\r\nACK 7\r\n"},
		{"RECV ACK, then NACK", "EXC q 1 12\r\nz\r\n",
			func(c *Client) (*Delivery, error) {
				_, d, err := c.Channel("q").RecvHeld(ctx)
				if _, thrown := err.(*RemoteError); thrown {
					err = nil
				}
				return d, err
			},
			(*Delivery).Nack, "RECV q ACK\r\nNACK 12\r\n"},
		{"SELECT ACK, then NACK", "SELECTED 1 MSG q 1 3\r\nz\r\n",
			func(c *Client) (*Delivery, error) {
				_, _, d, err := c.SelectHeld(ctx, SendCase(c.Channel("p"), []byte("v")), RecvCase(c.Channel("q")))
				return d, err
			},
			(*Delivery).Nack, "SELECT 2 ACK\r\nSEND p {1}\r\nv\r\nRECV q\r\nNACK 3\r\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := startFake(t, []byte(tc.reply), false)
			c, err := Dial(ctx, fake.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			d, err := tc.op(c)
			if err != nil || d == nil {
				t.Fatalf("%v, %v", d, err)
			}
			if err := tc.settle(d); err != nil {
				t.Fatal(err)
			}
			waitFor(t, "the acknowledgement written", func() bool { return fake.written() == tc.written })
		})
	}
	// A held receive answered without a tag does not fit.
	fake := startFake(t, []byte("MSG q 1\r\nz\r\n"), false)
	c, err := Dial(ctx, fake.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, d, err := c.Channel("q").RecvHeld(ctx); !errors.Is(err, ErrMalformedReply) || d != nil {
		t.Fatalf("RecvHeld = %v, %v", d, err)
	}
}
