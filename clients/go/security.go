package chand

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
)

// DialOptions are the settings of DialWith beyond the address.
type DialOptions struct {
	// TLS is the configuration of TLS connections. Setting it turns TLS on
	// for any address; a "tls://" address without it uses the default:
	// the server's certificate verified against the CA file named by
	// CHAND_TLS_CA, else the system's pool. The configuration is used as
	// given: verification is skipped only if it says so itself.
	TLS *tls.Config

	// User and Password authenticate every connection (AUTH) before its
	// first request. When both are empty, CHAND_USER and CHAND_PASSWORD
	// are used if set; with neither, connections do not authenticate.
	User     string
	Password string
}

// Environment variables read by DialWith.
const (
	EnvTLSCA    = "CHAND_TLS_CA"
	EnvUser     = "CHAND_USER"
	EnvPassword = "CHAND_PASSWORD"
)

// tlsConfig is the configuration for an address with or without "tls://":
// nil for plain TCP.
func tlsConfig(useTLS bool, given *tls.Config) (*tls.Config, error) {
	if given != nil {
		return given.Clone(), nil
	}
	if !useTLS {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if path := os.Getenv(EnvTLSCA); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, fmt.Errorf("chand: %s: %w", EnvTLSCA, err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("chand: %s: no PEM certificate in %s", EnvTLSCA, path)
		}
		cfg.RootCAs = pool
	}
	return cfg, nil
}

// credentials are the user and password from the options, else from the
// environment. Each must be one token of bytes 0x21-0x7E, as AUTH reads it.
func credentials(o DialOptions) (user, password string, err error) {
	user, password = o.User, o.Password
	if user == "" && password == "" {
		user, password = os.Getenv(EnvUser), os.Getenv(EnvPassword)
	}
	if user == "" {
		if password != "" {
			return "", "", errors.New("chand: a password without a user name")
		}
		return "", "", nil
	}
	if !isToken(user) {
		return "", "", fmt.Errorf("chand: bad user name %q: one word of printable ASCII", user)
	}
	if !isToken(password) {
		return "", "", fmt.Errorf("chand: bad password for user %q: one word of printable ASCII, not empty", user)
	}
	return user, password, nil
}

func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7E {
			return false
		}
	}
	return true
}

// authenticate sends AUTH on a new connection: OK, or the server's
// refusal as a *ServerError (errors.Is ErrDenied). The password is never
// part of an error.
func (c *Client) authenticate(ctx context.Context, cn *conn) error {
	if c.user == "" {
		return nil
	}
	r, err := cn.roundTrip(ctx, appendLine(nil, verbAuth, c.user, c.password))
	if err != nil {
		return err
	}
	if r.selected < 0 && r.kind == kindErr {
		cn.close()
		return serverError(r.code, r.text)
	}
	if r.selected >= 0 || r.tag != 0 || r.kind != kindOK {
		cn.close()
		return malformedReply("reply to AUTH is not OK or ERR", nil)
	}
	return nil
}
