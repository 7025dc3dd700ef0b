// go_echo: the Go peer echo server of the echo benchmark.
//
// What: the textbook Go echo server -- the standard `net` package, one
// goroutine per connection doing blocking-style Read then Write of what
// arrived; the runtime's netpoller (epoll) parks goroutines while a socket is
// not ready, so a pending write also stops reading (backpressure). Read and
// Write, not io.Copy(c, c): on Linux io.Copy between TCP sockets uses
// splice(2) through a pipe, another I/O path than every other server's
// read-then-write body. Standard library only, no module.
// Why: Go's goroutines are the best-known M:N answer to "threads or
// coroutines"; GOMAXPROCS=1 shows one loop's worth of it, GOMAXPROCS=all the
// multi-core scheduler.
//
// Build (the driver does this during `switchyard run` when `go` is installed):
//
//	GO111MODULE=off GOCACHE=<build>/peers/gocache GOPATH=<build>/peers/gopath \
//	  go build -o <build>/peers/go_echo runners/peers/go_echo.go
//
// Usage:
//
//	go_echo [--port 0]                       GOMAXPROCS = the machine's online CPUs
//	GOMAXPROCS=1 go_echo [--port 0]          one P (peers.json: go_gomaxprocs1)
//
// GOMAXPROCS unset means the online CPU count (/sys/devices/system/cpu/online),
// set here explicitly: the Go runtime's own default is the CPUs in the
// affinity mask at start, which is 1 when bench_echo pins the server to a CPU,
// and would make `go` the same as `go_gomaxprocs1`.
//
// Contract (runners/peers/README.md): binds 127.0.0.1 only, prints exactly
// "port <P>" on stdout once listening, echoes bytes unchanged, TCP_NODELAY on
// every connection, survives client resets and half-close, exits 0 on SIGTERM
// or SIGINT. Go (1.19+) raises the soft RLIMIT_NOFILE to the hard limit at
// start-up. Bad arguments: one line, exit 2.
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const (
	programName = "go_echo"
	host        = "127.0.0.1"
	chunk       = 64 * 1024 // bytes per read: the largest message swept (16 KiB) and merges
	maxPortNum  = 65535
	onlineCPUs  = "/sys/devices/system/cpu/online"
	acceptRetry = time.Millisecond // after a failed accept (out of descriptors)
	errorExit   = 1
	usageExit   = 2
)

// echo serves one connection until EOF or an error: what arrives is written back.
func echo(c *net.TCPConn) {
	defer c.Close()
	c.SetNoDelay(true)
	buf := make([]byte, chunk)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return // reset or broken pipe
			}
		}
		if err != nil {
			return // io.EOF (half-close: all that arrived was echoed) or a reset
		}
	}
}

// countCPUs parses a kernel CPU list such as "0-3,8,10-11"; 0 when malformed.
func countCPUs(list string) int {
	total := 0
	for _, part := range strings.Split(strings.TrimSpace(list), ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			return 0
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < a {
				return 0
			}
		}
		total += b - a + 1
	}
	return total
}

// setProcs applies the default GOMAXPROCS (online CPUs) unless the environment sets it.
func setProcs() {
	if os.Getenv("GOMAXPROCS") != "" {
		return
	}
	data, err := os.ReadFile(onlineCPUs)
	if err != nil {
		return
	}
	if n := countCPUs(string(data)); n > 0 {
		runtime.GOMAXPROCS(n)
	}
}

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, programName+": "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	port := flags.Int("port", 0, "TCP port on 127.0.0.1 (0: an ephemeral port)")
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument '%s'", flags.Arg(0))
		}
		fail(usageExit, "%v (usage: go_echo [--port N])", err)
	}
	if *port < 0 || *port > maxPortNum {
		fail(usageExit, "--port: not a port number: '%d'", *port)
	}
	setProcs()

	ln, err := net.ListenTCP("tcp4", &net.TCPAddr{IP: net.ParseIP(host), Port: *port})
	if err != nil {
		fail(errorExit, "cannot listen on %s:%d: %v", host, *port, err)
	}
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	go func() {
		<-stop
		ln.Close()
		os.Exit(0)
	}()

	fmt.Fprintf(os.Stdout, "port %d\n", ln.Addr().(*net.TCPAddr).Port) // os.Stdout is unbuffered
	for {
		c, err := ln.AcceptTCP()
		if errors.Is(err, net.ErrClosed) {
			select {} // closed for SIGTERM: the signal goroutine exits the process
		}
		if err != nil {
			time.Sleep(acceptRetry) // EMFILE and the like: retry shortly
			continue
		}
		go echo(c)
	}
}
