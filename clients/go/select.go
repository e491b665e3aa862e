package chand

import (
	"context"
	"fmt"
	"strconv"
)

// Case is one case of a Select: RecvCase, SendCase or ThrowCase. A nil
// *Case is skipped, like a nil channel in a Go select.
type Case struct {
	ch    *Channel
	verb  string // SEND, THROW or RECV
	value []byte
}

// RecvCase receives from ch; nil when ch is nil.
func RecvCase(ch *Channel) *Case {
	if ch == nil {
		return nil
	}
	return &Case{ch: ch, verb: verbRecv}
}

// SendCase sends v on ch; nil when ch is nil.
func SendCase(ch *Channel, v []byte) *Case {
	if ch == nil {
		return nil
	}
	return &Case{ch: ch, verb: verbSend, value: v}
}

// ThrowCase sends v on ch as an exception (see Channel.Throw); nil when ch
// is nil.
func ThrowCase(ch *Channel, v []byte) *Case {
	if ch == nil {
		return nil
	}
	return &Case{ch: ch, verb: verbThrow, value: v}
}

// Select waits until one of the cases can proceed, performs only that one,
// and returns its index among cases and, for a receive case, the value.
// When several are ready the server picks one uniformly at random. Nil
// cases are skipped; if all are nil Select returns ErrNoCases at once.
//
// The chosen case's outcome is the error: ErrClosed (a send case on a
// closing channel, a receive case on a closed one), a *RemoteError (a
// receive case that got a thrown value). When ctx ends first nothing is
// performed and ctx.Err() is returned; with a context that has already
// ended Select is Go's select with a default: it performs a case only if
// one is ready, else returns an error matching ErrTimeout and ctx.Err().
func (c *Client) Select(ctx context.Context, cases ...*Case) (int, []byte, error) {
	i, v, _, err := c.selectCases(ctx, false, cases)
	return i, v, err
}

func (c *Client) selectCases(ctx context.Context, hold bool, cases []*Case) (int, []byte, *Delivery, error) {
	var positions []int // the caller's index of each case line
	var body []byte
	for i, cs := range cases {
		if cs == nil {
			continue
		}
		if cs.ch == nil || cs.ch.client != c {
			return -1, nil, nil, fmt.Errorf("chand: select case %d: not a channel of this Client", i)
		}
		if err := checkName(cs.ch.name); err != nil {
			return -1, nil, nil, fmt.Errorf("chand: select case %d: %w", i, err)
		}
		if cs.verb == verbRecv {
			body = appendLine(body, verbRecv, cs.ch.name)
		} else {
			body = appendPayload(body, cs.verb, cs.ch.name, cs.value)
		}
		positions = append(positions, i)
	}
	if len(positions) == 0 {
		return -1, nil, nil, ErrNoCases
	}
	// SELECT <n> [NOWAIT] [ACK], then the case lines
	header := []string{verbSelect, strconv.Itoa(len(positions))}
	expired := ctx.Err()
	if expired != nil {
		header = append(header, optionNowait)
		ctx = pollContext
	}
	if hold {
		header = append(header, optionAck)
	}
	req := append(appendLine(nil, header...), body...)

	cn, err := c.get(ctx)
	if err != nil {
		return -1, nil, nil, err
	}
	r, err := cn.roundTrip(ctx, req)
	if err != nil {
		c.put(cn)
		return -1, nil, nil, c.closedErr(err)
	}
	if r.selected < 0 {
		switch {
		case r.kind == kindErr:
			err = c.refused(cn, r)
		case r.kind == kindTimeout && expired != nil:
			err = expiredError{expired}
		default:
			cn.close()
			err = malformedReply("reply does not fit the SELECT", nil)
		}
		c.put(cn)
		return -1, nil, nil, err
	}
	if r.selected >= len(positions) {
		cn.close()
		c.put(cn)
		return -1, nil, nil, malformedReply("SELECTED names no case", []byte(strconv.Itoa(r.selected)))
	}
	i := positions[r.selected]
	cs := cases[i]
	if cs.verb != verbRecv {
		switch r.kind {
		case kindOK:
		case kindErr:
			err = c.refused(cn, r)
		default:
			cn.close()
			i, err = -1, malformedReply("a send case answered with a value", nil)
		}
		c.put(cn)
		return i, nil, nil, err
	}
	switch {
	case r.kind != kindMsg && r.kind != kindExc && r.kind != kindClosed,
		r.channel != cs.ch.name,
		(r.tag != 0) != (hold && r.kind != kindClosed):
		cn.close()
		c.put(cn)
		return -1, nil, nil, malformedReply("reply does not fit receive case "+strconv.Itoa(i), nil)
	}
	var d *Delivery
	if r.tag != 0 && cn.broken { // withdrawn as the value came: the server gives it back
		c.put(cn)
		return -1, nil, nil, ctx.Err()
	}
	if r.tag != 0 {
		d = &Delivery{client: c, cn: cn, tag: r.tag} // it gives cn back once settled
	} else {
		c.put(cn)
	}
	v, err := received(r, nil)
	return i, v, d, err
}
