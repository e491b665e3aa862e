package chand

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// The examples build and print the right answer against the test daemon.
func TestExamples(t *testing.T) {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	dir := t.TempDir()
	build := exec.Command(gobin, "build", "-o", dir, "./examples/...")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build ./examples/...: %v\n%s", err, out)
	}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"sieve", []string{"-n", "25"}, "2\n3\n5\n7\n11\n13\n17\n19\n23\n29\n31\n37\n41\n43\n47\n53\n59\n61\n67\n71\n73\n79\n83\n89\n97\n"},
		{"workers", []string{"-workers", "6", "-jobs", "200"}, "200 jobs, 6 workers, sum of squares 2686700\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cmd := exec.Command(filepath.Join(dir, tc.name), append([]string{"-addr", serverAddress}, tc.args...)...)
			var stderr strings.Builder
			cmd.Stderr = &stderr
			out, err := cmd.Output()
			if err != nil || string(out) != tc.want {
				t.Fatalf("%s: %v\nstdout %q\nwant   %q\nstderr %s", tc.name, err, out, tc.want, stderr.String())
			}
		})
	}
}
