package chand

import (
	"context"
	"strconv"
)

// Channel is a named channel on the server, used through its Client. It is
// a name and a Client, cheap to make, and safe for concurrent use.
type Channel struct {
	client *Client
	name   string
}

// Name is the channel's name on the server.
func (ch *Channel) Name() string { return ch.name }

// Send sends v and returns once a receiver has taken it or it was
// buffered. On a closing or closed channel it returns ErrClosed. When ctx
// ends while it waits the send is withdrawn and ctx.Err() is returned
// (unless the server completed it first; then the result is returned). With
// a context that has already ended it sends only if that can happen at once
// (else an error matching ErrTimeout and ctx.Err()).
func (ch *Channel) Send(ctx context.Context, v []byte) error {
	return ch.send(ctx, verbSend, v)
}

// Throw sends v as an exception (THROW): the receive that gets it returns
// a *RemoteError carrying v. Otherwise as Send.
func (ch *Channel) Throw(ctx context.Context, v []byte) error {
	return ch.send(ctx, verbThrow, v)
}

func (ch *Channel) send(ctx context.Context, verb string, v []byte) error {
	if ctx.Err() != nil {
		// SEND has no NOWAIT: a one-case select has.
		_, _, err := ch.client.Select(ctx, &Case{ch: ch, verb: verb, value: v})
		return err
	}
	if err := checkName(ch.name); err != nil {
		return err
	}
	_, err := ch.client.call(ctx, appendPayload(nil, verb, ch.name, v), is(kindOK))
	return err
}

// Recv receives the next value, blocking until there is one. A value sent
// with Throw comes as a *RemoteError; a closed and drained channel returns
// ErrClosed. Context as for Send.
func (ch *Channel) Recv(ctx context.Context) ([]byte, error) {
	if err := checkName(ch.name); err != nil {
		return nil, err
	}
	words := []string{verbRecv, ch.name}
	expired := ctx.Err()
	if expired != nil {
		words = append(words, optionNowait)
		ctx = pollContext
	}
	r, err := ch.client.call(ctx, appendLine(nil, words...), func(r *reply) bool {
		switch r.kind {
		case kindMsg, kindExc, kindClosed:
			return r.channel == ch.name
		case kindTimeout:
			return expired != nil // only NOWAIT is answered TIMEOUT
		}
		return false
	})
	if err != nil {
		return nil, err
	}
	return received(r, expired)
}

// received is what a receive returns for a MSG, EXC, CLOSED or TIMEOUT reply.
func received(r *reply, expired error) ([]byte, error) {
	switch r.kind {
	case kindMsg:
		return r.payload, nil
	case kindExc:
		return nil, &RemoteError{Channel: r.channel, Payload: r.payload}
	case kindClosed:
		return nil, ErrClosed
	default:
		return nil, expiredError{expired}
	}
}

// Close marks the channel closing: later sends fail with ErrClosed;
// receivers get the values already sent, then ErrClosed. Closing again is
// fine.
func (ch *Channel) Close(ctx context.Context) error {
	if err := checkName(ch.name); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	_, err := ch.client.call(ctx, appendLine(nil, verbClose, ch.name), is(kindOK))
	return err
}

// State is a channel's state in Stat.
type State string

const (
	Open    State = "open"
	Closing State = "closing" // closed to senders, still draining
	Closed  State = "closed"  // closed and drained
)

// Stat is a channel's STAT line (protocol.md, "STAT, CHANNELS").
type Stat struct {
	Name       string
	Cap        int        // buffer capacity
	Len        int        // values buffered
	Balance    int        // senders waiting minus receivers waiting (Stackless's balance)
	State      State      // open, closing or closed
	Preference Preference // who runs first after a rendezvous
	Senders    int        // tasklets waiting to send
	Receivers  int        // tasklets waiting to receive
	Held       int        // values delivered with ACK and not yet acknowledged
	Persistent bool       // made by Make
	Sent       uint64     // values that entered the channel
	Received   uint64     // values taken out of it
	Rate       uint64     // values moved in the server's last one-second interval
}

// Stat asks the server for the channel's state and counters. An unknown
// channel is described as empty, open and unbuffered.
func (ch *Channel) Stat(ctx context.Context) (Stat, error) {
	if err := checkName(ch.name); err != nil {
		return Stat{}, err
	}
	if err := ctx.Err(); err != nil {
		return Stat{}, err
	}
	var s Stat
	var bad error
	_, err := ch.client.call(ctx, appendLine(nil, verbStat, ch.name), func(r *reply) bool {
		if r.kind != kindStat || r.channel != ch.name {
			return false
		}
		s, bad = parseStat(r)
		return bad == nil
	})
	if bad != nil {
		return Stat{}, bad
	}
	return s, err
}

// parseStat reads the fields it knows and ignores the others (the server
// may add fields at the end).
func parseStat(r *reply) (Stat, error) {
	s := Stat{Name: r.channel}
	for _, f := range r.fields {
		var target *int
		var counter *uint64
		switch f.key {
		case statCap:
			target = &s.Cap
		case statLen:
			target = &s.Len
		case statBalance:
			target = &s.Balance
		case statSenders:
			target = &s.Senders
		case statReceivers:
			target = &s.Receivers
		case statHeld:
			target = &s.Held
		case statSent:
			counter = &s.Sent
		case statReceived:
			counter = &s.Received
		case statRate:
			counter = &s.Rate
		case statState:
			switch State(f.value) {
			case Open, Closing, Closed:
				s.State = State(f.value)
			default:
				return Stat{}, malformedReply("bad state in STAT", []byte(f.value))
			}
		case statPreference:
			switch f.value {
			case "-1", "0", "1":
				p, _ := strconv.Atoi(f.value)
				s.Preference = Preference(p)
			default:
				return Stat{}, malformedReply("bad preference in STAT", []byte(f.value))
			}
		case statPersistent:
			if f.value != "0" && f.value != "1" {
				return Stat{}, malformedReply("bad persistent in STAT", []byte(f.value))
			}
			s.Persistent = f.value == "1"
		}
		if target != nil {
			n, err := strconv.ParseInt(f.value, 10, 64)
			if err != nil || n != int64(int(n)) {
				return Stat{}, malformedReply("bad number in STAT", []byte(f.key+"="+f.value))
			}
			*target = int(n)
		}
		if counter != nil {
			n, ok := number([]byte(f.value))
			if !ok {
				return Stat{}, malformedReply("bad counter in STAT", []byte(f.key+"="+f.value))
			}
			*counter = n
		}
	}
	return s, nil
}
