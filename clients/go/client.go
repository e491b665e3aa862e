package chand

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"
)

// maxIdle bounds the connections a Client keeps open while unused.
const maxIdle = 64

// Client is a handle on one chand server. It is safe for concurrent use by
// many goroutines: every operation runs on a connection of its own, taken
// from a pool (and dialled when none is free), so each goroutine blocked in
// an operation is a tasklet of its own on the server.
type Client struct {
	address  string
	dialer   net.Dialer
	tls      *tls.Config // nil: plain TCP
	user     string      // "": no AUTH
	password string

	mu     sync.Mutex
	idle   []*conn
	open   map[*conn]struct{}
	closed bool
}

// Dial connects to the chand server at address, one of
//
//	"host"  ":port"  "host:port"  "[::1]:port"  ""
//
// (the host defaults to 127.0.0.1, the port to 7400), each optionally
// after "tls://". It opens one connection now, so a wrong address (or
// certificate, or password) fails here; more are opened as operations
// need them. It is DialWith with no options: TLS and AUTH as the
// environment says (DialOptions).
func Dial(ctx context.Context, address string) (*Client, error) {
	return DialWith(ctx, address, DialOptions{})
}

// DialWith is Dial with a TLS configuration and credentials. Every
// connection of the Client completes its TLS handshake and, with
// credentials, its AUTH before its first request; a refused AUTH is a
// *ServerError matching ErrDenied.
func DialWith(ctx context.Context, address string, options DialOptions) (*Client, error) {
	rest, useTLS, err := splitScheme(address)
	if err != nil {
		return nil, err
	}
	hp, err := hostPort(rest)
	if err != nil {
		return nil, err
	}
	cfg, err := tlsConfig(useTLS, options.TLS)
	if err != nil {
		return nil, err
	}
	user, password, err := credentials(options)
	if err != nil {
		return nil, err
	}
	c := &Client{address: hp, tls: cfg, user: user, password: password, open: map[*conn]struct{}{}}
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	c.put(cn)
	return c, nil
}

// Close closes every connection of the Client. Operations blocked at that
// moment are withdrawn on the server and return an error; later ones
// return ErrClientClosed.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	for cn := range c.open {
		cn.nc.Close()
	}
	c.idle, c.open = nil, nil
	return nil
}

// get takes an idle connection, or dials one.
func (c *Client) get(ctx context.Context) (*conn, error) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return nil, ErrClientClosed
	}
	if n := len(c.idle); n > 0 {
		cn := c.idle[n-1]
		c.idle = c.idle[:n-1]
		c.mu.Unlock()
		return cn, nil
	}
	c.mu.Unlock()
	nc, err := c.dial(ctx)
	if err != nil {
		if err := ended(ctx); err != nil {
			return nil, err
		}
		return nil, fmt.Errorf("chand: dial %s: %w", c.address, err)
	}
	cn := &conn{nc: nc}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		nc.Close()
		return nil, ErrClientClosed
	}
	c.open[cn] = struct{}{}
	c.mu.Unlock()
	if err := c.authenticate(ctx, cn); err != nil || cn.broken {
		c.put(cn)
		if err == nil { // ctx ended while AUTH was answered
			err = ctx.Err()
		}
		return nil, c.closedErr(err)
	}
	return cn, nil
}

// dial opens a TCP connection, and completes the TLS handshake on it when
// the Client speaks TLS.
func (c *Client) dial(ctx context.Context) (net.Conn, error) {
	if c.tls == nil {
		return c.dialer.DialContext(ctx, "tcp", c.address)
	}
	d := tls.Dialer{NetDialer: &c.dialer, Config: c.tls}
	return d.DialContext(ctx, "tcp", c.address)
}

// ended is ctx.Err(), also when the deadline has passed and the context
// has not noticed yet (a dial can time out first).
func ended(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if d, ok := ctx.Deadline(); ok && !time.Now().Before(d) {
		return context.DeadlineExceeded
	}
	return nil
}

// put gives a connection back after an operation; a broken one is closed.
func (c *Client) put(cn *conn) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cn.broken || c.closed || len(c.idle) >= maxIdle {
		cn.close()
		if !c.closed {
			delete(c.open, cn)
		}
		return
	}
	c.idle = append(c.idle, cn)
}

// call runs one request on a pooled connection and returns its reply when
// it fits the request; an ERR reply is returned as an error. A reply that
// does not fit is malformed and costs the connection.
func (c *Client) call(ctx context.Context, req []byte, fits func(*reply) bool) (*reply, error) {
	cn, err := c.get(ctx)
	if err != nil {
		return nil, err
	}
	defer c.put(cn)
	r, err := cn.roundTrip(ctx, req)
	if err != nil {
		return nil, c.closedErr(err)
	}
	if r.selected < 0 && r.kind == kindErr {
		return nil, c.refused(cn, r)
	}
	if r.selected >= 0 || r.tag != 0 || !fits(r) {
		cn.close()
		return nil, malformedReply("reply does not fit the request", nil)
	}
	return r, nil
}

// is fits a reply of one of the kinds.
func is(kinds ...replyKind) func(*reply) bool {
	return func(r *reply) bool {
		for _, k := range kinds {
			if r.kind == k {
				return true
			}
		}
		return false
	}
}

// refused is the error of an ERR reply. After ERR CLOSED and ERR EXISTS
// the connection stays in use; after others (some of which the server
// follows by closing it) it is dropped.
func (c *Client) refused(cn *conn, r *reply) error {
	if r.code != codeClosed && r.code != codeExists {
		cn.close()
	}
	return serverError(r.code, r.text)
}

// closedErr reports ErrClientClosed for an operation cut short by Close.
func (c *Client) closedErr(err error) error {
	if err == nil {
		return nil
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return fmt.Errorf("%w: %v", ErrClientClosed, err)
	}
	return err
}

// Channel names a channel on the server. It is cheap and sends nothing:
// the server makes a channel when it is first used (or by Make).
func (c *Client) Channel(name string) *Channel {
	return &Channel{client: c, name: name}
}

// Preference decides who runs first after a rendezvous (protocol.md, MAKE).
type Preference int

const (
	Receiver     Preference = -1 // the server's default
	NoPreference Preference = 0
	Sender       Preference = 1
)

func (p Preference) String() string {
	switch p {
	case Receiver:
		return prefReceiver
	case Sender:
		return prefSender
	case NoPreference:
		return prefNone
	}
	return "Preference(" + strconv.Itoa(int(p)) + ")"
}

// MakeOption is a setting for Make: Cap or Prefer.
type MakeOption func(*makeSettings)

type makeSettings struct {
	capacity   int
	preference *Preference
}

// Cap makes a buffered channel with room for n values.
func Cap(n int) MakeOption { return func(s *makeSettings) { s.capacity = n } }

// Prefer sets who runs first after a rendezvous.
func Prefer(p Preference) MakeOption { return func(s *makeSettings) { s.preference = &p } }

// Make creates the channel name with its settings (unbuffered, preferring
// the receiver, unless told). Making it again with the same settings is
// fine; with other settings it returns an error matching ErrExists.
func (c *Client) Make(ctx context.Context, name string, options ...MakeOption) error {
	var s makeSettings
	for _, o := range options {
		o(&s)
	}
	if err := checkName(name); err != nil {
		return err
	}
	if s.capacity < 0 {
		return fmt.Errorf("chand: negative capacity %d", s.capacity)
	}
	words := []string{verbMake, name}
	if s.capacity > 0 {
		words = append(words, optionCap, strconv.Itoa(s.capacity))
	}
	if s.preference != nil {
		switch *s.preference {
		case Receiver, Sender, NoPreference:
		default:
			return fmt.Errorf("chand: bad preference %d", int(*s.preference))
		}
		words = append(words, optionPrefer, s.preference.String())
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := c.call(ctx, appendLine(nil, words...), is(kindOK))
	return err
}

// Ping makes one round trip to the server.
func (c *Client) Ping(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := c.call(ctx, appendLine(nil, verbPing), is(kindPong))
	return err
}

// Hello returns the server's HELLO fields: proto, server, and the limits
// it enforces (max_payload, max_select_cases, ...).
func (c *Client) Hello(ctx context.Context) (map[string]string, error) {
	return c.fields(ctx, verbHello, kindHello)
}

// Info returns the server's INFO counters, as text.
func (c *Client) Info(ctx context.Context) (map[string]string, error) {
	return c.fields(ctx, verbInfo, kindInfo)
}

func (c *Client) fields(ctx context.Context, verb string, kind replyKind) (map[string]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	r, err := c.call(ctx, appendLine(nil, verb), is(kind))
	if err != nil {
		return nil, err
	}
	m := make(map[string]string, len(r.fields))
	for _, f := range r.fields {
		m[f.key] = f.value
	}
	return m, nil
}
