package chand

import (
	"errors"
	"reflect"
	"testing"
)

// A transcript of replies as the server writes them, and what each parses to.
var transcript = []struct {
	wire string
	want reply
}{
	{"OK\r\n", reply{kind: kindOK, selected: -1}},
	{"PONG\r\n", reply{kind: kindPong, selected: -1}},
	{"TIMEOUT\r\n", reply{kind: kindTimeout, selected: -1}},
	{"MSG jobs 11\r\nhello world\r\n", reply{kind: kindMsg, selected: -1, channel: "jobs", length: 11, payload: []byte("hello world")}},
	{"MSG bin 6\r\na\r\n\x00\nb\r\n", reply{kind: kindMsg, selected: -1, channel: "bin", length: 6, payload: []byte("a\r\n\x00\nb")}},
	{"MSG e 0\r\n\r\n", reply{kind: kindMsg, selected: -1, channel: "e", payload: []byte{}}},
	{"EXC jobs 9\r\nbad thing\r\n", reply{kind: kindExc, selected: -1, channel: "jobs", length: 9, payload: []byte("bad thing")}},
	{"MSG q 3 17\r\nabc\r\n", reply{kind: kindMsg, selected: -1, channel: "q", length: 3, tag: 17, payload: []byte("abc")}},
	{"CLOSED jobs\r\n", reply{kind: kindClosed, selected: -1, channel: "jobs"}},
	{"ERR CLOSED channel jobs is closed\r\n", reply{kind: kindErr, selected: -1, code: "CLOSED", text: "channel jobs is closed"}},
	{"ERR SYNTAX\r\n", reply{kind: kindErr, selected: -1, code: "SYNTAX"}},
	{"SELECTED 1 MSG tasks 6\r\nsecond\r\n", reply{kind: kindMsg, selected: 1, channel: "tasks", length: 6, payload: []byte("second")}},
	{"SELECTED 0 EXC t 1 4\r\nx\r\n", reply{kind: kindExc, selected: 0, channel: "t", length: 1, tag: 4, payload: []byte("x")}},
	{"SELECTED 2 OK\r\n", reply{kind: kindOK, selected: 2}},
	{"SELECTED 0 CLOSED c\r\n", reply{kind: kindClosed, selected: 0, channel: "c"}},
	{"SELECTED 3 ERR CLOSED channel c is closed\r\n", reply{kind: kindErr, selected: 3, code: "CLOSED", text: "channel c is closed"}},
	{"STAT tasks cap=2 len=2 balance=0 state=open preference=-1 senders=0 receivers=0 persistent=1 sent=2 received=0 rate=0\r\n",
		reply{kind: kindStat, selected: -1, channel: "tasks", fields: []field{{"cap", "2"}, {"len", "2"}, {"balance", "0"}, {"state", "open"},
			{"preference", "-1"}, {"senders", "0"}, {"receivers", "0"}, {"persistent", "1"}, {"sent", "2"}, {"received", "0"}, {"rate", "0"}}}},
	{"HELLO proto=1 server=chand/0.1\r\n", reply{kind: kindHello, selected: -1, fields: []field{{"proto", "1"}, {"server", "chand/0.1"}}}},
	{"INFO\r\n", reply{kind: kindInfo, selected: -1}},
	{"BYE\r\n", reply{kind: kindBye, selected: -1}},
}

func parseAll(t *testing.T, chunks ...[]byte) []reply {
	t.Helper()
	var p replyParser
	var got []reply
	for _, chunk := range chunks {
		p.feed(chunk)
		for {
			r, err := p.next()
			if err != nil {
				t.Fatalf("chunks %q: %v", chunks, err)
			}
			if r == nil {
				break
			}
			got = append(got, *r)
		}
	}
	if p.partial() {
		t.Fatalf("chunks %q: bytes left over", chunks)
	}
	return got
}

// The whole transcript parses the same whatever two chunks it arrives in,
// and one byte at a time.
func TestParserEverySplit(t *testing.T) {
	var wire []byte
	var want []reply
	for _, e := range transcript {
		wire = append(wire, e.wire...)
		want = append(want, e.want)
	}
	for split := 0; split <= len(wire); split++ {
		got := parseAll(t, wire[:split:split], wire[split:])
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("split at %d:\n got %+v\nwant %+v", split, got, want)
		}
	}
	var bytewise [][]byte
	for i := range wire {
		bytewise = append(bytewise, wire[i:i+1])
	}
	if got := parseAll(t, bytewise...); !reflect.DeepEqual(got, want) {
		t.Fatalf("byte by byte:\n got %+v\nwant %+v", got, want)
	}
}

// Each malformed reply is an error wrapping ErrMalformedReply at every
// split: never a panic, never a reply.
func TestParserMalformedEverySplit(t *testing.T) {
	long := make([]byte, maxReplyLine+2)
	for i := range long {
		long[i] = 'A'
	}
	for _, wire := range []string{
		"WHAT\r\n",
		"OK\n",
		"\n",
		"OK extra\r\n",
		"TIMEOUT 5\r\n",
		"MSG jobs\r\n",
		"MSG jobs abc\r\n",
		"MSG jobs -1\r\n",
		"MSG jobs 3\r\nabcd\r\n",
		"MSG jobs 3\r\nabc\n\n",
		"MSG jobs 99999999999999999999\r\n",
		"MSG jobs 2000000000\r\n",
		"MSG jobs 1 0\r\nx\r\n",
		"MSG jobs 1 2 3\r\nx\r\n",
		"MSG bad\x01name 1\r\nx\r\n",
		"MSG  1\r\nx\r\n",
		"CLOSED\r\n",
		"CLOSED two names\r\n",
		"ERR\r\n",
		"ERR lower case\r\n",
		"ERR 9LIVES x\r\n",
		"SELECTED\r\n",
		"SELECTED x OK\r\n",
		"SELECTED 1\r\n",
		"SELECTED 1 TIMEOUT\r\n",
		"SELECTED 1 SELECTED 1 OK\r\n",
		"SELECTED 1 STAT x cap=1\r\n",
		"SELECTED 99999999999 OK\r\n",
		"STAT\r\n",
		"STAT x cap\r\n",
		"STAT x =1\r\n",
		"INFO a=1  b=2\r\n",
		string(long),
	} {
		for split := 0; split <= len(wire); split++ {
			if len(wire) > 1000 && split > 0 && split < len(wire) && split%4096 != 0 {
				continue
			}
			var p replyParser
			var err error
			for _, chunk := range []string{wire[:split], wire[split:]} {
				p.feed([]byte(chunk))
				var r *reply
				r, err = p.next()
				if r != nil {
					t.Fatalf("%q split at %d: parsed as %+v", wire, split, *r)
				}
				if err != nil {
					break
				}
			}
			if !errors.Is(err, ErrMalformedReply) {
				t.Fatalf("%q split at %d: error %v, want a malformed reply", wire, split, err)
			}
		}
	}
}

// A payload length far above what arrived costs no memory up front.
func TestParserDoesNotTrustLengths(t *testing.T) {
	var p replyParser
	p.feed([]byte("MSG jobs 1000000000\r\nab"))
	if r, err := p.next(); r != nil || err != nil {
		t.Fatalf("got %v %v before the payload arrived", r, err)
	}
	if cap(p.buf) > 1<<16 {
		t.Fatalf("parser holds %d bytes of room for 2 received", cap(p.buf))
	}
}

func TestStatFields(t *testing.T) {
	r, err := parseReplyLine([]byte("STAT q cap=3 len=1 balance=-2 state=closing preference=1 senders=0 receivers=2 persistent=1 sent=7 received=6 rate=4 held=2 future=x"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseStat(r)
	if err != nil {
		t.Fatal(err)
	}
	want := Stat{Name: "q", Cap: 3, Len: 1, Balance: -2, State: Closing, Preference: Sender, Receivers: 2, Held: 2, Persistent: true, Sent: 7, Received: 6, Rate: 4}
	if s != want {
		t.Fatalf("got %+v\nwant %+v", s, want)
	}
	for _, bad := range []string{"STAT q cap=x", "STAT q state=gone", "STAT q preference=2", "STAT q persistent=yes", "STAT q sent=-1", "STAT q balance=1e3"} {
		r, err := parseReplyLine([]byte(bad))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := parseStat(r); !errors.Is(err, ErrMalformedReply) {
			t.Fatalf("%q: %v, want a malformed reply", bad, err)
		}
	}
}

func TestAddressGrammar(t *testing.T) {
	for in, want := range map[string]string{
		"":                "127.0.0.1:7400",
		"example.org":     "example.org:7400",
		":7401":           "127.0.0.1:7401",
		"10.0.0.1:9":      "10.0.0.1:9",
		"[::1]:7400":      "[::1]:7400",
		"[::1]":           "[::1]:7400",
		"::1":             "[::1]:7400",
		" localhost:80 ":  "localhost:80",
		"[fe80::1%lo]:12": "[fe80::1%lo]:12",
	} {
		got, err := hostPort(in)
		if err != nil || got != want {
			t.Errorf("hostPort(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"host:", "host:x", "host:70000", "host:-1", "host:+1", "[::1", "[::1]x", "[::1]:"} {
		if got, err := hostPort(bad); err == nil {
			t.Errorf("hostPort(%q) = %q, want an error", bad, got)
		}
	}
}
