package chand

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// splitScheme separates the "tls://" prefix of an address, which asks for
// TLS; any other "<scheme>://" is refused.
func splitScheme(address string) (rest string, useTLS bool, err error) {
	a := strings.TrimSpace(address)
	if strings.HasPrefix(a, schemeTLS) {
		return a[len(schemeTLS):], true, nil
	}
	if strings.Contains(a, "://") {
		return "", false, fmt.Errorf("chand: bad address %q: the only scheme is %s", address, schemeTLS)
	}
	return a, false, nil
}

// hostPort turns a chand address (without its scheme) into net.Dial's
// form. The grammar:
//
//	address = [ "tls://" ] hostport
//	hostport = host | ":" port | host ":" port | "[" ipv6 "]" [ ":" port ] | ipv6
//
// A missing host is 127.0.0.1, a missing port 7400; "" is both.
func hostPort(address string) (string, error) {
	a := strings.TrimSpace(address)
	host, port := a, ""
	switch {
	case strings.HasPrefix(a, "["):
		end := strings.IndexByte(a, ']')
		if end < 0 {
			return "", fmt.Errorf("chand: bad address %q: no ] after [", address)
		}
		host, rest := a[1:end], a[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", fmt.Errorf("chand: bad address %q: text after ]", address)
			}
			port = rest[1:]
			if port == "" {
				return "", fmt.Errorf("chand: bad address %q: empty port", address)
			}
		}
		return finish(address, host, port)
	case strings.Count(a, ":") == 1:
		i := strings.IndexByte(a, ':')
		host, port = a[:i], a[i+1:]
		if port == "" {
			return "", fmt.Errorf("chand: bad address %q: empty port", address)
		}
	}
	return finish(address, host, port)
}

func finish(address, host, port string) (string, error) {
	if host == "" {
		host = DefaultHost
	}
	if port == "" {
		port = DefaultPort
	}
	n, err := strconv.ParseUint(port, 10, 16)
	if err != nil || port[0] == '+' {
		return "", fmt.Errorf("chand: bad port in address %q", address)
	}
	return net.JoinHostPort(host, strconv.FormatUint(n, 10)), nil
}

// checkName refuses what the server would answer ERR BADNAME, before a byte
// is written: a name is 1-255 bytes, each 0x21-0x7E.
func checkName(name string) error {
	if len(name) < 1 || len(name) > 255 {
		return fmt.Errorf("chand: bad channel name %q: 1-255 bytes of printable ASCII without space", name)
	}
	for i := 0; i < len(name); i++ {
		if name[i] < 0x21 || name[i] > 0x7E {
			return fmt.Errorf("chand: bad channel name %q: 1-255 bytes of printable ASCII without space", name)
		}
	}
	return nil
}
