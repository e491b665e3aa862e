package chand

import (
	"context"
	"strconv"
	"sync"
)

// Delivery is a value received with acknowledgement (RecvHeld, SelectHeld):
// the server holds it for this receiver until Ack, and gives it back to the
// front of its channel on Nack or when the receiver's connection ends (its
// Client closed, its process died). A sender of such a value is told its
// send completed only at the Ack.
//
// The connection that received the value stays out of the Client's pool
// until the delivery is settled, so a Delivery left unsettled costs a
// connection.
type Delivery struct {
	client *Client
	cn     *conn
	tag    uint64

	mu      sync.Mutex
	settled bool
}

// Tag is the server's delivery tag, unique among the values the
// connection holds.
func (d *Delivery) Tag() uint64 { return d.tag }

// Ack tells the server the receiver has the value.
func (d *Delivery) Ack() error { return d.settle(verbAck) }

// Nack gives the value back: it goes to the front of its channel, to be
// delivered again.
func (d *Delivery) Nack() error { return d.settle(verbNack) }

// ACK <tag> and NACK <tag> have no reply.
func (d *Delivery) settle(verb string) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.settled {
		return ErrSettled
	}
	d.settled = true
	err := d.cn.send(appendLine(nil, verb, strconv.FormatUint(d.tag, 10)))
	d.client.put(d.cn)
	return d.client.closedErr(err)
}

// RecvHeld receives like Recv, with acknowledgement (RECV <chan> ACK): the
// value is held for this receiver until d.Ack(), and comes back to the
// channel on d.Nack() or if the receiver goes away first. d is non-nil
// whenever a value was received, also when it was thrown (then err is a
// *RemoteError and the thrown value too must be settled).
func (ch *Channel) RecvHeld(ctx context.Context) (v []byte, d *Delivery, err error) {
	if err := checkName(ch.name); err != nil {
		return nil, nil, err
	}
	words := []string{verbRecv, ch.name}
	expired := ctx.Err()
	if expired != nil {
		words = append(words, optionNowait)
		ctx = pollContext
	}
	words = append(words, optionAck)
	c := ch.client
	cn, err := c.get(ctx)
	if err != nil {
		return nil, nil, err
	}
	r, err := cn.roundTrip(ctx, appendLine(nil, words...))
	switch {
	case err != nil:
		err = c.closedErr(err)
	case r.selected >= 0:
		err = malformedReply("SELECTED in reply to RECV", nil)
	case r.kind == kindErr:
		err = c.refused(cn, r)
	case r.kind == kindMsg || r.kind == kindExc:
		if r.tag == 0 || r.channel != ch.name {
			err = malformedReply("reply does not fit RECV ACK", nil)
			break
		}
		if cn.broken { // withdrawn as the value came: the server gives it back
			err = ctx.Err()
			break
		}
		v, err = received(r, nil)
		return v, &Delivery{client: c, cn: cn, tag: r.tag}, err
	case r.kind == kindClosed && r.channel == ch.name:
		err = ErrClosed
	case r.kind == kindTimeout && expired != nil:
		err = expiredError{expired}
	default:
		err = malformedReply("reply does not fit RECV ACK", nil)
	}
	if _, bad := err.(*malformed); bad {
		cn.close()
	}
	c.put(cn)
	return nil, nil, err
}

// SelectHeld is Select with acknowledgement for its receive cases (SELECT
// ... ACK): a value received by a receive case comes with a Delivery to
// settle, as from RecvHeld. A send case that fires returns a nil Delivery.
func (c *Client) SelectHeld(ctx context.Context, cases ...*Case) (int, []byte, *Delivery, error) {
	return c.selectCases(ctx, true, cases)
}
