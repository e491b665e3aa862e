package chand

import (
	"bytes"
	"strconv"
)

const (
	maxReplyLine   = 1 << 20 // a longer reply line is malformed
	maxReplyLength = 1 << 30 // chand's largest max_payload; a longer announced payload is malformed
)

type replyKind uint8

const (
	kindOK replyKind = iota + 1
	kindPong
	kindBye
	kindTimeout
	kindMsg
	kindExc
	kindClosed
	kindErr
	kindStat
	kindInfo
	kindHello
)

// reply is one complete server reply.
type reply struct {
	kind     replyKind
	selected int     // the case index of "SELECTED <i> ...", else -1
	channel  string  // MSG, EXC, CLOSED, STAT
	payload  []byte  // MSG, EXC
	length   int     // MSG, EXC: the payload's announced length
	tag      uint64  // MSG, EXC of a value held with ACK; 0 otherwise
	code     string  // ERR
	text     string  // ERR
	fields   []field // STAT, INFO, HELLO: the key=value tokens in order
}

type field struct{ key, value string }

// replyParser splits the bytes of a connection into replies, whatever
// chunks they arrive in: feed it bytes, then call next until it returns nil.
type replyParser struct {
	buf     []byte // received and not yet parsed
	scanned int    // leading bytes of buf known to hold no LF
	header  *reply // a MSG or EXC whose payload has not all arrived
}

const (
	minRead = 4 << 10 // the least room a read gets
	maxRead = 1 << 20 // the most room a read of a long payload gets at once
)

// space returns room at the end of buf for the next read: at least minRead
// bytes, more while a long payload is still arriving.
func (p *replyParser) space() []byte {
	want := minRead
	if p.header != nil {
		if rest := p.header.length + 2 - len(p.buf); rest > want {
			want = rest
			if want > maxRead {
				want = maxRead
			}
		}
	}
	if len(p.buf) == 0 && cap(p.buf) > maxRead {
		p.buf = nil // do not keep a long payload's room
	}
	if cap(p.buf)-len(p.buf) < want {
		grown := make([]byte, len(p.buf), 2*len(p.buf)+want)
		copy(grown, p.buf)
		p.buf = grown
	}
	return p.buf[len(p.buf):cap(p.buf)]
}

// commit adds n bytes read into space to buf.
func (p *replyParser) commit(n int) { p.buf = p.buf[:len(p.buf)+n] }

// feed adds data to buf.
func (p *replyParser) feed(data []byte) {
	for len(data) > 0 {
		n := copy(p.space(), data)
		p.commit(n)
		data = data[n:]
	}
}

// partial reports bytes of an unfinished reply.
func (p *replyParser) partial() bool { return len(p.buf) > 0 || p.header != nil }

// next returns the next complete reply, or nil when more bytes are needed.
// After an error the parser is out of sync and must not be fed again.
func (p *replyParser) next() (*reply, error) {
	if p.header == nil {
		line, err := p.line()
		if line == nil || err != nil {
			return nil, err
		}
		r, err := parseReplyLine(line)
		if err != nil {
			return nil, err
		}
		if r.kind != kindMsg && r.kind != kindExc {
			return r, nil
		}
		p.header = r
	}
	n := p.header.length
	if len(p.buf) < n+2 {
		return nil, nil
	}
	if p.buf[n] != '\r' || p.buf[n+1] != '\n' {
		return nil, malformedReply("payload of "+strconv.Itoa(n)+" bytes not followed by CRLF", nil)
	}
	r := p.header
	r.payload = make([]byte, n) // not nil, also when empty
	copy(r.payload, p.buf)
	p.buf = p.buf[n+2:]
	p.header = nil
	return r, nil
}

// line takes one CRLF-ended line off buf (without the CRLF), or returns nil.
func (p *replyParser) line() ([]byte, error) {
	i := bytes.IndexByte(p.buf[p.scanned:], '\n')
	if i < 0 {
		p.scanned = len(p.buf)
		if len(p.buf) > maxReplyLine {
			return nil, malformedReply("reply line too long", p.buf)
		}
		return nil, nil
	}
	end := p.scanned + i
	p.scanned = 0
	if end == 0 || p.buf[end-1] != '\r' {
		return nil, malformedReply("reply line not ended by CRLF", p.buf[:end+1])
	}
	line := p.buf[:end-1]
	p.buf = p.buf[end+1:]
	return line, nil
}

// parseReplyLine parses a reply's first line. The grammar (protocol.md):
//
//	reply    = "OK" | "PONG" | "BYE" | "TIMEOUT" | value | "CLOSED" SP chan | error
//	         | "SELECTED" SP index SP (  "OK" | value | "CLOSED" SP chan | error )
//	         | ("STAT" SP chan | "INFO" | "HELLO") *(SP key "=" value)
//	value    = ("MSG" | "EXC") SP chan SP length [SP tag]   ; then length bytes and CRLF
//	error    = "ERR" SP code [SP text]
//
// For a MSG or EXC, only the header is parsed (next adds the payload).
func parseReplyLine(line []byte) (*reply, error) {
	r := &reply{selected: -1}
	rest := line
	head, rest := token(rest)
	if string(head) == replySelected {
		var index []byte
		index, rest = token(rest)
		i, ok := number(index)
		if !ok || i > 1<<31 || rest == nil {
			return nil, malformedReply("bad SELECTED reply", line)
		}
		r.selected = int(i)
		head, rest = token(rest)
	}
	switch string(head) {
	case replyOK, replyPong, replyBye, replyTimeout:
		if rest != nil {
			return nil, malformedReply("unexpected text after reply", line)
		}
		switch string(head) {
		case replyOK:
			r.kind = kindOK
		case replyPong:
			r.kind = kindPong
		case replyBye:
			r.kind = kindBye
		default:
			r.kind = kindTimeout
		}
		if r.selected >= 0 && r.kind != kindOK {
			return nil, malformedReply("unexpected reply to a select case", line)
		}
	case replyMsg, replyExc:
		r.kind = kindMsg
		if string(head) == replyExc {
			r.kind = kindExc
		}
		var name, length, tag []byte
		name, rest = token(rest)
		length, rest = token(rest)
		tag, rest = token(rest)
		n, ok := number(length)
		if !ok || rest != nil || !validName(name) {
			return nil, malformedReply("bad message header", line)
		}
		if n > maxReplyLength {
			return nil, malformedReply("payload length too large", line)
		}
		if tag != nil {
			if r.tag, ok = number(tag); !ok || r.tag == 0 {
				return nil, malformedReply("bad delivery tag", line)
			}
		}
		r.channel, r.length = string(name), int(n)
	case replyClosed:
		if !validName(rest) {
			return nil, malformedReply("bad CLOSED reply", line)
		}
		r.kind, r.channel = kindClosed, string(rest)
	case replyErr:
		code, text := token(rest)
		if !validCode(code) {
			return nil, malformedReply("bad error code", line)
		}
		r.kind, r.code, r.text = kindErr, string(code), string(text)
	case replyStat, replyInfo, replyHello:
		if r.selected >= 0 {
			return nil, malformedReply("unexpected reply to a select case", line)
		}
		switch string(head) {
		case replyStat:
			var name []byte
			name, rest = token(rest)
			if !validName(name) {
				return nil, malformedReply("bad STAT reply", line)
			}
			r.kind, r.channel = kindStat, string(name)
		case replyInfo:
			r.kind = kindInfo
		default:
			r.kind = kindHello
		}
		for rest != nil {
			var kv []byte
			kv, rest = token(rest)
			eq := bytes.IndexByte(kv, '=')
			if eq <= 0 {
				return nil, malformedReply("bad key=value field", line)
			}
			r.fields = append(r.fields, field{string(kv[:eq]), string(kv[eq+1:])})
		}
	default:
		return nil, malformedReply("unexpected reply", line)
	}
	return r, nil
}

// token splits b at its first space: the token before it and the rest
// after it, or nil for the rest when there is no space.
func token(b []byte) (tok, rest []byte) {
	i := bytes.IndexByte(b, ' ')
	if i < 0 {
		return b, nil
	}
	return b[:i], b[i+1:]
}

// number parses 1-19 decimal digits.
func number(b []byte) (uint64, bool) {
	if len(b) < 1 || len(b) > 19 {
		return 0, false
	}
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + uint64(c-'0')
	}
	return n, true
}

func validName(b []byte) bool {
	if len(b) < 1 || len(b) > 255 {
		return false
	}
	for _, c := range b {
		if c < 0x21 || c > 0x7E {
			return false
		}
	}
	return true
}

// validCode: [A-Z][A-Z0-9_]*
func validCode(b []byte) bool {
	if len(b) == 0 || b[0] < 'A' || b[0] > 'Z' {
		return false
	}
	for _, c := range b {
		if !(c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}
