package chand

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// testCA is a CA and a server certificate it signed for 127.0.0.1, made
// with the openssl command.
type testCA struct {
	caPEM, certPEM, keyPEM string
}

func makeCerts(t *testing.T) testCA {
	t.Helper()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("no openssl command")
	}
	dir := t.TempDir()
	p := func(name string) string { return filepath.Join(dir, name) }
	run := func(args ...string) {
		t.Helper()
		out, err := exec.Command("openssl", args...).CombinedOutput()
		if err != nil {
			t.Fatalf("openssl %s: %v\n%s", strings.Join(args, " "), err, out)
		}
	}
	if err := os.WriteFile(p("san.ext"), []byte("subjectAltName=IP:127.0.0.1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=chand test CA",
		"-keyout", p("ca.key"), "-out", p("ca.pem"))
	run("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
		"-keyout", p("server.key"), "-out", p("server.csr"))
	run("x509", "-req", "-days", "2", "-in", p("server.csr"), "-CA", p("ca.pem"), "-CAkey", p("ca.key"),
		"-CAcreateserial", "-extfile", p("san.ext"), "-out", p("server.pem"))
	return testCA{caPEM: p("ca.pem"), certPEM: p("server.pem"), keyPEM: p("server.key")}
}

// clientConfig trusts only the test CA.
func (ca testCA) clientConfig(t *testing.T) *tls.Config {
	t.Helper()
	pem, err := os.ReadFile(ca.caPEM)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		t.Fatal("no certificate in", ca.caPEM)
	}
	return &tls.Config{RootCAs: pool}
}

func (ca testCA) flags() []string {
	return []string{"--tls-cert", ca.certPEM, "--tls-key", ca.keyPEM}
}

// usersFile holds the one user alice, password s3cret, who may send and
// receive on every channel.
func usersFile(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte("alice plain:s3cret send:* recv:*\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// daemonWith starts a chand of its own for the test with the flags.
func daemonWith(t *testing.T, flags ...string) string {
	t.Helper()
	addr, stop, err := startDaemon(flags...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(stop)
	return addr
}

// noEnvironment clears the variables DialWith reads, for the test.
func noEnvironment(t *testing.T) {
	for _, v := range []string{EnvTLSCA, EnvUser, EnvPassword} {
		t.Setenv(v, "")
	}
}

// handoff sends v on ch from a goroutine and receives it on ch.
func handoff(t *testing.T, ch *Channel, v string) {
	t.Helper()
	ctx := context.Background()
	wait := inBackground(func() result { return result{err: ch.Send(ctx, []byte(v))} })
	got, err := ch.Recv(ctx)
	if err != nil {
		t.Fatal("RECV:", err)
	}
	if string(got) != v {
		t.Fatalf("RECV: MSG %q, want %q", got, v)
	}
	if r := wait(t); r.err != nil {
		t.Fatal("SEND:", r.err)
	}
}

// tls://127.0.0.1:port with the test CA in the configuration:
//
//	(TLS handshake, server certificate for IP 127.0.0.1 verified)
//	SEND c {2} hi / RECV c  ->  OK / MSG c {2} hi
func TestTLSSendRecv(t *testing.T) {
	noEnvironment(t)
	ca := makeCerts(t)
	addr := daemonWith(t, ca.flags()...)
	c, err := DialWith(context.Background(), "tls://"+addr, DialOptions{TLS: ca.clientConfig(t)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ch := c.Channel(name(t, "c"))
	handoff(t, ch, "hi")

	// SELECT over TLS: the value goes to the receive case
	wait := inBackground(func() result { return result{err: ch.Send(context.Background(), []byte("sel"))} })
	i, v, err := c.Select(context.Background(), RecvCase(ch))
	if err != nil || i != 0 || string(v) != "sel" {
		t.Fatalf("SELECT: %d %q %v, want 0 \"sel\" nil", i, v, err)
	}
	if r := wait(t); r.err != nil {
		t.Fatal(r.err)
	}

	// a cancelled RECV over TLS is withdrawn on the server (close_notify,
	// then end of input): STAT shows no receiver left
	ctx, cancel := context.WithCancel(context.Background())
	wait = inBackground(func() result { _, err := ch.Recv(ctx); return result{err: err} })
	waitFor(t, "one receiver waiting", func() bool { return stat(t, ch).Receivers == 1 })
	cancel()
	if r := wait(t); !errors.Is(r.err, context.Canceled) {
		t.Fatalf("cancelled RECV: %v, want context.Canceled", r.err)
	}
	waitFor(t, "no receiver waiting", func() bool { return stat(t, ch).Receivers == 0 })
}

// tls:// with the CA from CHAND_TLS_CA and no configuration in code.
func TestTLSCAFromEnvironment(t *testing.T) {
	noEnvironment(t)
	ca := makeCerts(t)
	addr := daemonWith(t, ca.flags()...)
	t.Setenv(EnvTLSCA, ca.caPEM)
	c, err := Dial(context.Background(), "tls://"+addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Ping(context.Background()); err != nil {
		t.Fatal("PING:", err)
	}
}

// A client that does not trust the server's CA fails the handshake in
// Dial, and nothing is sent.
func TestTLSUnknownCA(t *testing.T) {
	noEnvironment(t)
	ca := makeCerts(t)
	addr := daemonWith(t, ca.flags()...)
	other := makeCerts(t)
	for what, dial := range map[string]func() (*Client, error){
		"system pool": func() (*Client, error) { return Dial(context.Background(), "tls://"+addr) },
		"another CA": func() (*Client, error) {
			return DialWith(context.Background(), "tls://"+addr, DialOptions{TLS: other.clientConfig(t)})
		},
		"another CA from CHAND_TLS_CA": func() (*Client, error) {
			t.Setenv(EnvTLSCA, other.caPEM)
			defer t.Setenv(EnvTLSCA, "")
			return Dial(context.Background(), "tls://"+addr)
		},
	} {
		c, err := dial()
		if err == nil {
			c.Close()
			t.Fatalf("%s: Dial succeeded, want a certificate verification error", what)
		}
		var unknown x509.UnknownAuthorityError
		if !errors.As(err, &unknown) {
			t.Errorf("%s: %v, want an x509.UnknownAuthorityError", what, err)
		}
	}
	t.Setenv(EnvTLSCA, filepath.Join(t.TempDir(), "missing.pem"))
	if c, err := Dial(context.Background(), "tls://"+addr); err == nil {
		c.Close()
		t.Fatal("Dial with CHAND_TLS_CA naming no file succeeded")
	}
}

// A server with users (and TLS):
//
//	AUTH alice s3cret  ->  OK, on every pooled connection
//	AUTH alice wrong   ->  ERR DENIED invalid user name or secret
//	SEND c {1} x without AUTH  ->  ERR NOAUTH SEND needs AUTH <name> <secret> first
func TestAuth(t *testing.T) {
	noEnvironment(t)
	ca := makeCerts(t)
	for _, mode := range []string{"plain", "tls"} {
		t.Run(mode, func(t *testing.T) {
			flags, prefix, options := []string{"--users", usersFile(t)}, "", DialOptions{}
			if mode == "tls" {
				flags, prefix, options.TLS = append(flags, ca.flags()...), "tls://", ca.clientConfig(t)
			}
			addr := prefix + daemonWith(t, flags...)
			ctx := context.Background()

			alice := options
			alice.User, alice.Password = "alice", "s3cret"
			c, err := DialWith(ctx, addr, alice)
			if err != nil {
				t.Fatal("AUTH alice s3cret:", err)
			}
			defer c.Close()
			// the sender and the receiver are two connections, each authenticated
			handoff(t, c.Channel(name(t, "c")), "x")

			wrong := options
			wrong.User, wrong.Password = "alice", "wrong"
			if c, err := DialWith(ctx, addr, wrong); err == nil {
				c.Close()
				t.Fatal("AUTH alice wrong: Dial succeeded")
			} else {
				var se *ServerError
				if !errors.As(err, &se) || se.Code != "DENIED" || !errors.Is(err, ErrDenied) {
					t.Fatalf("AUTH alice wrong: %v, want a *ServerError DENIED", err)
				}
				if strings.Contains(err.Error(), "wrong") {
					t.Fatalf("the error shows the password: %v", err)
				}
			}

			anonymous, err := DialWith(ctx, addr, options)
			if err != nil {
				t.Fatal(err)
			}
			defer anonymous.Close()
			if err := anonymous.Ping(ctx); err != nil {
				t.Fatal("PING without AUTH:", err)
			}
			err = anonymous.Channel(name(t, "c")).Send(ctx, []byte("x"))
			var se *ServerError
			if !errors.As(err, &se) || se.Code != "NOAUTH" || !errors.Is(err, ErrNoAuth) {
				t.Fatalf("SEND without AUTH: %v, want a *ServerError NOAUTH", err)
			}

			// credentials from CHAND_USER and CHAND_PASSWORD
			t.Setenv(EnvUser, "alice")
			t.Setenv(EnvPassword, "s3cret")
			fromEnv, err := DialWith(ctx, addr, options)
			if err != nil {
				t.Fatal("AUTH from the environment:", err)
			}
			defer fromEnv.Close()
			handoff(t, fromEnv.Channel(name(t, "c")), "y")
			t.Setenv(EnvUser, "")
			t.Setenv(EnvPassword, "")
		})
	}
}

// Credentials AUTH cannot carry, and schemes other than tls://, are
// refused before a byte is sent.
func TestDialOptionsRefused(t *testing.T) {
	noEnvironment(t)
	for _, o := range []DialOptions{
		{User: "alice"},
		{User: "al ice", Password: "s3cret"},
		{User: "alice", Password: "s3 cret"},
		{Password: "s3cret"},
	} {
		if c, err := DialWith(context.Background(), serverAddress, o); err == nil {
			c.Close()
			t.Errorf("DialWith(%+v) succeeded", o)
		}
	}
	if c, err := Dial(context.Background(), "tcp://"+serverAddress); err == nil {
		c.Close()
		t.Error("Dial(tcp://...) succeeded")
	}
}
