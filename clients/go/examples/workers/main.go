// Command workers is a worker pool on a chand server: a producer sends jobs
// into a buffered channel and closes it; workers (goroutines sharing one
// Client, each blocked receive on a pooled connection of its own) receive
// until the channel is closed and drained, and send results to a second
// channel, which the main goroutine sums. Workers in other processes could
// take jobs from the same channel.
//
//	go run ./examples/workers -addr 127.0.0.1:7400 -workers 4 -jobs 100
package main

import (
	"context"
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
	workers := flag.Int("workers", 4, "worker goroutines")
	jobs := flag.Int("jobs", 100, "jobs to run")
	flag.Parse()
	sum, err := pool(*addr, *workers, *jobs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "workers:", err)
		os.Exit(1)
	}
	fmt.Printf("%d jobs, %d workers, sum of squares %d\n", *jobs, *workers, sum)
}

func pool(addr string, workers, jobs int) (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	c, err := chand.Dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	run := fmt.Sprintf("workers-%d-%d", os.Getpid(), time.Now().UnixNano())
	if err := c.Make(ctx, run+"-jobs", chand.Cap(workers)); err != nil {
		return 0, err
	}
	todo, done := c.Channel(run+"-jobs"), c.Channel(run+"-results")

	errs := make(chan error, workers+1)
	go func() { // the producer
		for i := 1; i <= jobs; i++ {
			if err := todo.Send(ctx, []byte(strconv.Itoa(i))); err != nil {
				errs <- err
				return
			}
		}
		if err := todo.Close(ctx); err != nil {
			errs <- err
		}
	}()
	var wg sync.WaitGroup
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				job, err := todo.Recv(ctx)
				if err == chand.ErrClosed {
					return // closed and drained: no more jobs
				}
				if err != nil {
					errs <- err
					return
				}
				n, err := strconv.Atoi(string(job))
				if err != nil {
					errs <- fmt.Errorf("bad job %q", job)
					return
				}
				if err := done.Send(ctx, []byte(strconv.Itoa(n*n))); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	sum := 0
	for i := 0; i < jobs; i++ {
		v, err := done.Recv(ctx)
		if err != nil {
			select {
			case first := <-errs:
				return 0, first
			default:
				return 0, err
			}
		}
		n, err := strconv.Atoi(string(v))
		if err != nil {
			return 0, fmt.Errorf("bad result %q", v)
		}
		sum += n
	}
	wg.Wait()
	select {
	case err := <-errs:
		return 0, err
	default:
	}
	return sum, nil
}
