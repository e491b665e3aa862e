// Package chand is a client for chand, the network channel server: named
// channels with Go's and Stackless Python's semantics (rendezvous, buffered
// channels, close with drain, select) shared by processes over TCP.
//
//	c, err := chand.Dial(ctx, "127.0.0.1:7400")
//	defer c.Close()
//	jobs := c.Channel("jobs")
//	err = jobs.Send(ctx, []byte("x"))     // blocks until a receiver took it (or it was buffered)
//	v, err := jobs.Recv(ctx)              // err == chand.ErrClosed once closed and drained
//	i, v, err := c.Select(ctx, chand.RecvCase(jobs), chand.SendCase(out, data))
//
// A Client is safe for concurrent use. Each operation runs on a connection
// of its own from the Client's pool, and each connection is one tasklet on
// the server, so goroutines blocked on a Client never wait for each other.
// Ending an operation's context withdraws it on the server: the client ends
// its side of the operation's connection, the server withdraws the blocked
// request, and the operation returns ctx.Err() (or its result, if the server
// completed it first: a value is never lost to a cancellation). An
// operation called with a context that has already ended is tried at once,
// as NOWAIT.
//
// Addresses "tls://host:port" speak TLS with the server's certificate
// verified; DialWith takes a *tls.Config and AUTH credentials (else
// CHAND_TLS_CA, CHAND_USER and CHAND_PASSWORD from the environment).
//
// The wire protocol is protocol.md in chand's repository.
package chand
