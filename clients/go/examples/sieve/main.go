// Command sieve is Pike's concurrent prime sieve with every channel on a
// chand server: a generator goroutine sends 2, 3, 4, ... down the first
// channel; each prime found adds a filter goroutine that passes on what its
// prime does not divide. Every goroutine dials its own Client, so each is
// one connection, one tasklet on the server.
//
//	go run ./examples/sieve -addr 127.0.0.1:7400 -n 20
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"

	"chand"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7400", "chand server address")
	n := flag.Int("n", 20, "how many primes to print")
	flag.Parse()
	if err := sieve(*addr, *n); err != nil {
		fmt.Fprintln(os.Stderr, "sieve:", err)
		os.Exit(1)
	}
}

func sieve(addr string, n int) error {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	// Fresh channel names for every run: no run sees another's values.
	run := fmt.Sprintf("sieve-%d-%d", os.Getpid(), time.Now().UnixNano())
	stage := func(i int) string { return run + "-" + strconv.Itoa(i) }

	var wg sync.WaitGroup
	failed := make(chan error, n+1)
	spawn := func(body func(*chand.Client) error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := chand.Dial(ctx, addr) // a connection of its own
			if err == nil {
				defer c.Close()
				err = body(c)
			}
			if err != nil && ctx.Err() == nil {
				failed <- err
				cancel()
			}
		}()
	}

	spawn(func(c *chand.Client) error { return generate(ctx, c.Channel(stage(0))) })
	c, err := chand.Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	for i := 0; i < n; i++ {
		v, err := c.Channel(stage(i)).Recv(ctx)
		if err != nil {
			cancel()
			wg.Wait()
			select {
			case first := <-failed:
				return first
			default:
				return err
			}
		}
		prime, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("not a number on %s: %q", stage(i), v)
		}
		fmt.Println(prime)
		in, out := stage(i), stage(i+1)
		spawn(func(c *chand.Client) error { return filter(ctx, c.Channel(in), c.Channel(out), prime) })
	}
	cancel() // withdraws every goroutine's blocked send or receive
	wg.Wait()
	return nil
}

// generate sends 2, 3, 4, ... to ch until ctx ends.
func generate(ctx context.Context, ch *chand.Channel) error {
	for i := 2; ; i++ {
		if err := ch.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
			return quiet(ctx, err)
		}
	}
}

// filter copies the values from in to out, except those prime divides.
func filter(ctx context.Context, in, out *chand.Channel, prime int) error {
	for {
		v, err := in.Recv(ctx)
		if err != nil {
			return quiet(ctx, err)
		}
		i, err := strconv.Atoi(string(v))
		if err != nil {
			return fmt.Errorf("not a number on %s: %q", in.Name(), v)
		}
		if i%prime != 0 {
			if err := out.Send(ctx, v); err != nil {
				return quiet(ctx, err)
			}
		}
	}
}

// quiet drops the error of an operation that the end of the run withdrew.
func quiet(ctx context.Context, err error) error {
	if errors.Is(err, ctx.Err()) {
		return nil
	}
	return err
}
