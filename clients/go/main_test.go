package chand

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serverAddress is the chand daemon the tests run against: the real binary
// ($CHAND_BIN, else built with `swift build --product chand` from the
// repository root), started with a fixed seed on a free loopback port.
var serverAddress string

func TestMain(m *testing.M) {
	if addr := os.Getenv(holderAddress); addr != "" { // a helper process of a test
		serverAddress = addr
		os.Exit(m.Run())
	}
	os.Exit(runWithDaemon(m))
}

func runWithDaemon(m *testing.M) int {
	addr, stop, err := startDaemon()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer stop()
	serverAddress = addr
	return m.Run()
}

// startDaemon starts the chand binary with a fixed seed on a free loopback
// port and the extra flags, and returns where it listens and how to stop it.
func startDaemon(flags ...string) (address string, stop func(), err error) {
	binary, err := chandBinary()
	if err != nil {
		return "", nil, fmt.Errorf("chand binary: %w", err)
	}
	args := append([]string{"--port", "0", "--seed", "1", "--log-level", "warning"}, flags...)
	daemon := exec.Command(binary, args...)
	daemon.Stderr = os.Stderr
	out, err := daemon.StdoutPipe()
	if err != nil {
		return "", nil, err
	}
	if err := daemon.Start(); err != nil {
		return "", nil, fmt.Errorf("start chand: %w", err)
	}
	stop = func() {
		daemon.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { daemon.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			daemon.Process.Kill()
			<-done
		}
	}
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(out).ReadString('\n')
		first <- line
		// the daemon's later stdout lines are not needed; the pipe is closed at Wait
	}()
	const prefix = "chand listening on "
	select {
	case line := <-first:
		if !strings.HasPrefix(line, prefix) {
			stop()
			return "", nil, fmt.Errorf("chand did not start: %q", line)
		}
		return strings.TrimSpace(strings.TrimPrefix(line, prefix)), stop, nil
	case <-time.After(30 * time.Second):
		stop()
		return "", nil, fmt.Errorf("chand did not say where it listens within 30 s")
	}
}

func chandBinary() (string, error) {
	if bin := os.Getenv("CHAND_BIN"); bin != "" {
		return bin, nil
	}
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		return "", err
	}
	build := exec.Command("swift", "build", "--product", "chand")
	build.Dir, build.Stdout, build.Stderr = root, os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		return "", fmt.Errorf("swift build --product chand: %w", err)
	}
	show := exec.Command("swift", "build", "--show-bin-path")
	show.Dir = root
	path, err := show.Output()
	if err != nil {
		return "", fmt.Errorf("swift build --show-bin-path: %w", err)
	}
	return filepath.Join(strings.TrimSpace(string(path)), "chand"), nil
}

// dial connects a new Client to the test daemon, closed after the test.
func dial(t *testing.T) *Client {
	t.Helper()
	c, err := Dial(context.Background(), serverAddress)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

var names atomic.Int64

// name is a channel name no other test (and no earlier run) uses.
func name(t *testing.T, suffix string) string {
	return fmt.Sprintf("go-%s-%d-%d-%s", t.Name(), os.Getpid(), names.Add(1), suffix)
}

// waitFor polls cond until it holds; the test fails after 10 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not reached within 10 s: %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stat is ch's STAT, failing the test on error.
func stat(t *testing.T, ch *Channel) Stat {
	t.Helper()
	s, err := ch.Stat(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// expired is a context that has already ended.
func expired() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

// result collects what a goroutine returned.
type result struct {
	i   int
	v   []byte
	err error
}

// inBackground runs fn in a goroutine; wait returns its result or fails
// the test after 10 s.
func inBackground(fn func() result) func(t *testing.T) result {
	out := make(chan result, 1)
	go func() { out <- fn() }()
	return func(t *testing.T) result {
		t.Helper()
		select {
		case r := <-out:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("background operation still blocked after 10 s")
			return result{}
		}
	}
}
