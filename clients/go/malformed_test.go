package chand

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"
)

// fakeServer accepts one connection on loopback, reads the request until
// the client pauses, answers reply, then half-closes (when closeAfter) or
// stays open, recording whatever the client writes.
type fakeServer struct {
	ln      net.Listener
	mu      sync.Mutex
	request []byte
	done    chan struct{}
}

func startFake(t *testing.T, reply []byte, closeAfter bool) *fakeServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeServer{ln: ln, done: make(chan struct{})}
	go f.serve(reply, closeAfter)
	t.Cleanup(func() { ln.Close(); <-f.done })
	return f
}

func (f *fakeServer) serve(reply []byte, closeAfter bool) {
	defer close(f.done)
	nc, err := f.ln.Accept()
	if err != nil {
		return
	}
	defer nc.Close()
	buf := make([]byte, 65536)
	for start := time.Now(); time.Since(start) < 5*time.Second; {
		nc.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		n, err := nc.Read(buf)
		f.record(buf[:n])
		if err != nil && f.recorded() > 0 {
			break
		}
	}
	nc.SetReadDeadline(time.Time{})
	nc.Write(reply)
	if closeAfter {
		nc.(*net.TCPConn).CloseWrite()
	}
	for { // until the client closes
		n, err := nc.Read(buf)
		f.record(buf[:n])
		if err != nil {
			return
		}
	}
}

func (f *fakeServer) record(b []byte) {
	f.mu.Lock()
	f.request = append(f.request, b...)
	f.mu.Unlock()
}

func (f *fakeServer) recorded() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.request)
}

func (f *fakeServer) written() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return string(f.request)
}

// Every reply that does not parse, or does not fit its request, is an
// error wrapping ErrMalformedReply (a reply cut short by the server's
// close: io.ErrUnexpectedEOF), returned at once; the request on the wire
// is the one protocol.md describes.
func TestMalformedRepliesFromAFakeServer(t *testing.T) {
	long := strings.Repeat("A", maxReplyLine+10)
	type op func(c *Client) error
	recv := func(c *Client) error { _, err := c.Channel("ch").Recv(ctx); return err }
	send := func(c *Client) error { return c.Channel("ch").Send(ctx, []byte("x")) }
	sel := func(c *Client) error {
		_, _, err := c.Select(ctx, RecvCase(c.Channel("ch")), nil, SendCase(c.Channel("out"), []byte("v")))
		return err
	}
	statOp := func(c *Client) error { _, err := c.Channel("ch").Stat(ctx); return err }
	for _, tc := range []struct {
		name       string
		op         op
		request    string
		reply      string
		closeAfter bool
		want       error
	}{
		{"garbage", send, "SEND ch {1}\r\nx\r\n", "GARBAGE\r\n", false, ErrMalformedReply},
		{"a value for a send", send, "SEND ch {1}\r\nx\r\n", "MSG ch 1\r\na\r\n", false, ErrMalformedReply},
		{"LF alone", send, "SEND ch {1}\r\nx\r\n", "OK\n", false, ErrMalformedReply},
		{"another channel's value", recv, "RECV ch\r\n", "MSG other 1\r\na\r\n", false, ErrMalformedReply},
		{"a tag unasked", recv, "RECV ch\r\n", "MSG ch 1 5\r\na\r\n", false, ErrMalformedReply},
		{"TIMEOUT unasked", recv, "RECV ch\r\n", "TIMEOUT\r\n", false, ErrMalformedReply},
		{"payload without CRLF", recv, "RECV ch\r\n", "MSG ch 3\r\nabcXY", false, ErrMalformedReply},
		{"huge length", recv, "RECV ch\r\n", "MSG ch 99999999999\r\n", false, ErrMalformedReply},
		{"endless line", recv, "RECV ch\r\n", long, false, ErrMalformedReply},
		{"payload cut short", recv, "RECV ch\r\n", "MSG ch 10\r\nabc", true, io.ErrUnexpectedEOF},
		{"header cut short", recv, "RECV ch\r\n", "MSG ch", true, io.ErrUnexpectedEOF},
		{"nothing, then close", recv, "RECV ch\r\n", "", true, io.EOF},
		{"no such case", sel, "SELECT 2\r\nRECV ch\r\nSEND out {1}\r\nv\r\n", "SELECTED 2 OK\r\n", false, ErrMalformedReply},
		{"OK for a receive case", sel, "SELECT 2\r\nRECV ch\r\nSEND out {1}\r\nv\r\n", "SELECTED 0 OK\r\n", false, ErrMalformedReply},
		{"a value for a send case", sel, "SELECT 2\r\nRECV ch\r\nSEND out {1}\r\nv\r\n", "SELECTED 1 MSG out 1\r\na\r\n", false, ErrMalformedReply},
		{"TIMEOUT without NOWAIT", sel, "SELECT 2\r\nRECV ch\r\nSEND out {1}\r\nv\r\n", "TIMEOUT\r\n", false, ErrMalformedReply},
		{"bad STAT number", statOp, "STAT ch\r\n", "STAT ch cap=x\r\n", false, ErrMalformedReply},
		{"another channel's STAT", statOp, "STAT ch\r\n", "STAT other cap=1\r\n", false, ErrMalformedReply},
		{"PONG for a STAT", statOp, "STAT ch\r\n", "PONG\r\n", false, ErrMalformedReply},
		{"OK for a PING", func(c *Client) error { return c.Ping(ctx) }, "PING\r\n", "OK\r\n", false, ErrMalformedReply},
		{"a value for a MAKE", func(c *Client) error { return c.Make(ctx, "ch", Cap(3), Prefer(Sender)) },
			"MAKE ch CAP 3 PREFER SENDER\r\n", "MSG ch 1\r\na\r\n", false, ErrMalformedReply},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fake := startFake(t, []byte(tc.reply), tc.closeAfter)
			c, err := Dial(ctx, fake.ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			errs := make(chan error, 1)
			go func() { errs <- tc.op(c) }()
			select {
			case err = <-errs:
			case <-time.After(10 * time.Second):
				t.Fatal("no answer within 10 s")
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("error %v, want %v", err, tc.want)
			}
			if got := fake.written(); !strings.HasPrefix(got, tc.request) {
				t.Fatalf("request %q, want %q", got, tc.request)
			}
		})
	}
}

// A connection that gave a malformed reply is not used again.
func TestMalformedReplyDropsTheConnection(t *testing.T) {
	fake := startFake(t, []byte("OK\r\nPONG\r\n"), false)
	c, err := Dial(ctx, fake.ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(ctx); !errors.Is(err, ErrMalformedReply) {
		t.Fatalf("Ping = %v", err)
	}
	fake.ln.Close() // the next operation must dial, and finds nobody
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := c.Ping(cctx); err == nil || errors.Is(err, ErrMalformedReply) || bytes.Contains([]byte(err.Error()), []byte("PONG")) {
		t.Fatalf("second Ping = %v, want a dial error", err)
	}
}
