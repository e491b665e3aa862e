package chand

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"
)

// pollContext runs an operation whose own context had ended when it
// started: it goes out with NOWAIT, so the server answers at once.
var pollContext = context.Background()

// conn is one TCP connection to chand: one tasklet on the server. It runs
// one request at a time; the Client's pool hands it to one operation.
type conn struct {
	nc     net.Conn
	parser replyParser
	broken bool // closed, or out of step with the server: never reused
}

// withdrawGrace bounds the wait for the server's answer to a withdrawal.
const withdrawGrace = 2 * time.Second

// roundTrip writes req and reads one reply. When ctx ends first, the
// request is withdrawn: the client ends its side of the connection, which
// makes the server withdraw the blocked request (protocol.md, "End of input
// and disconnects"), and roundTrip returns ctx.Err(). If the server had
// already completed the request, its reply still arrives and is returned,
// so a value taken from a channel is never lost by a cancellation. Either
// way the connection is not used again.
func (cn *conn) roundTrip(ctx context.Context, req []byte) (*reply, error) {
	stop := cn.watch(ctx)
	r, err := cn.exchange(req)
	if stop() {
		cn.close()
		if err != nil {
			return nil, ctx.Err()
		}
	}
	if err != nil {
		cn.close()
	}
	return r, err
}

// watch withdraws the request if ctx ends before stop is called: it
// half-closes the connection (a full close if it cannot) and bounds the
// wait for what the server still sends. stop reports whether it did.
func (cn *conn) watch(ctx context.Context) (stop func() bool) {
	done := ctx.Done()
	if done == nil {
		return func() bool { return false }
	}
	quit := make(chan struct{})
	fired := make(chan bool, 1)
	go func() {
		select {
		case <-done:
			if hc, ok := cn.nc.(interface{ CloseWrite() error }); ok && hc.CloseWrite() == nil {
				cn.nc.SetReadDeadline(time.Now().Add(withdrawGrace))
			} else {
				cn.nc.Close()
			}
			fired <- true
		case <-quit:
			fired <- false
		}
	}()
	return func() bool {
		close(quit)
		return <-fired
	}
}

func (cn *conn) exchange(req []byte) (*reply, error) {
	if _, err := cn.nc.Write(req); err != nil {
		return nil, fmt.Errorf("chand: write: %w", err)
	}
	return cn.read()
}

// read returns the next complete reply, reading as much as it needs.
func (cn *conn) read() (*reply, error) {
	for {
		r, err := cn.parser.next()
		if r != nil || err != nil {
			return r, err
		}
		n, err := cn.nc.Read(cn.parser.space())
		cn.parser.commit(n)
		if err != nil {
			if n > 0 {
				continue // parse what came with the error first
			}
			if errors.Is(err, io.EOF) {
				if cn.parser.partial() {
					return nil, fmt.Errorf("chand: server closed the connection in the middle of a reply: %w", io.ErrUnexpectedEOF)
				}
				return nil, fmt.Errorf("chand: server closed the connection: %w", io.EOF)
			}
			return nil, fmt.Errorf("chand: read: %w", err)
		}
	}
}

// send writes a request that has no reply (ACK, NACK).
func (cn *conn) send(req []byte) error {
	if _, err := cn.nc.Write(req); err != nil {
		cn.close()
		return fmt.Errorf("chand: write: %w", err)
	}
	return nil
}

func (cn *conn) close() {
	cn.broken = true
	cn.nc.Close()
}

// Request encoding. Payloads always go in the counted form, so values may
// hold any bytes.

func appendLine(b []byte, words ...string) []byte {
	for i, w := range words {
		if i > 0 {
			b = append(b, ' ')
		}
		b = append(b, w...)
	}
	return append(b, lineEnd...)
}

// appendPayload: "<verb> <chan> {<n>}" CRLF <n bytes> CRLF
func appendPayload(b []byte, verb, name string, payload []byte) []byte {
	b = append(b, verb...)
	b = append(b, ' ')
	b = append(b, name...)
	b = append(b, ' ')
	b = append(b, countedOpen...)
	b = strconv.AppendInt(b, int64(len(payload)), 10)
	b = append(b, countedClose...)
	b = append(b, lineEnd...)
	b = append(b, payload...)
	return append(b, lineEnd...)
}
