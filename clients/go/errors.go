package chand

import (
	"errors"
	"strconv"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrClosed: a send on a closing or closed channel (ERR CLOSED), or a
	// receive on a closed and drained one (CLOSED). Returned as it is, so
	// err == ErrClosed holds.
	ErrClosed = errors.New("chand: channel closed")

	// ErrTimeout: an operation with an already expired context found
	// nothing ready (the server answered TIMEOUT to NOWAIT). The error
	// returned then also matches the context's error with errors.Is.
	ErrTimeout = errors.New("chand: nothing ready")

	// ErrExists matches (with errors.Is) the *ServerError of a MAKE whose
	// channel exists with other settings.
	ErrExists = errors.New("chand: channel exists with other settings")

	// ErrMalformedReply is wrapped by every error about a reply the client
	// cannot parse or that does not fit its request; the connection it
	// came on is closed.
	ErrMalformedReply = errors.New("chand: malformed reply")

	// ErrNoCases: a Select whose cases are all nil.
	ErrNoCases = errors.New("chand: select with no cases")

	// ErrClientClosed: an operation on a Client after Close (or one that
	// was blocked when Close ran).
	ErrClientClosed = errors.New("chand: client closed")

	// ErrDenied matches (with errors.Is) the *ServerError of a refused
	// AUTH (wrong name or secret, or a server without users) and of a
	// command the user's grants do not allow: code DENIED.
	ErrDenied = errors.New("chand: denied")

	// ErrNoAuth matches (with errors.Is) the *ServerError of a command
	// sent to a server with users before AUTH: code NOAUTH.
	ErrNoAuth = errors.New("chand: authentication required")

	// ErrSettled: Ack or Nack of a Delivery that was already acknowledged
	// or given back.
	ErrSettled = errors.New("chand: delivery already acknowledged or given back")
)

// ServerError is a reply "ERR <code> <text>": Code is for programs
// (SYNTAX, BADNAME, TOOBIG, LIMIT, EXISTS, ...), Text for people.
type ServerError struct {
	Code string
	Text string
}

func (e *ServerError) Error() string {
	if e.Text == "" {
		return "chand: " + e.Code
	}
	return "chand: " + e.Code + ": " + e.Text
}

// Is lets errors.Is(err, ErrExists), ErrClosed, ErrDenied and ErrNoAuth
// see through a ServerError with that code.
func (e *ServerError) Is(target error) bool {
	switch target {
	case ErrExists:
		return e.Code == codeExists
	case ErrClosed:
		return e.Code == codeClosed
	case ErrDenied:
		return e.Code == codeDenied
	case ErrNoAuth:
		return e.Code == codeNoAuth
	}
	return false
}

// serverError is the error for "ERR <code> <text>": ErrClosed itself for
// CLOSED (so that err == ErrClosed), a *ServerError otherwise.
func serverError(code, text string) error {
	if code == codeClosed {
		return ErrClosed
	}
	return &ServerError{Code: code, Text: text}
}

// RemoteError is a value that was sent with THROW (Channel.Throw, or a
// THROW from any other client): the receive that got it returns it as its
// error, with the payload.
type RemoteError struct {
	Channel string
	Payload []byte
}

func (e *RemoteError) Error() string {
	return "chand: exception from channel " + e.Channel + ": " + printable(e.Payload)
}

// expiredError: an operation tried at once because its context had ended,
// and nothing was ready. It matches both ErrTimeout and the context's error.
type expiredError struct{ cause error }

func (e expiredError) Error() string   { return "chand: nothing ready and " + e.cause.Error() }
func (e expiredError) Unwrap() error   { return e.cause }
func (e expiredError) Is(t error) bool { return t == ErrTimeout }

type malformed struct {
	what string
	line string
}

func (e *malformed) Error() string {
	if e.line == "" {
		return "chand: malformed reply: " + e.what
	}
	return "chand: malformed reply: " + e.what + ": " + printable([]byte(e.line))
}

func (e *malformed) Is(t error) bool { return t == ErrMalformedReply }

func malformedReply(what string, line []byte) error {
	const shown = 200
	if len(line) > shown {
		line = append(line[:shown:shown], "..."...)
	}
	return &malformed{what: what, line: string(line)}
}

// printable is b as text when it is printable UTF-8, else Go-quoted.
func printable(b []byte) string {
	s := string(b)
	if !utf8.ValidString(s) {
		return strconv.Quote(s)
	}
	for _, r := range s {
		if !unicode.IsPrint(r) {
			return strconv.Quote(s)
		}
	}
	return s
}
