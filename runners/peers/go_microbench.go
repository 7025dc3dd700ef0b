// go_microbench: Go anchors for the skynet and switch workloads ("gobench"),
// as Google Benchmark-shaped JSON.
//
// What:
//
//	skynet/go/n:<N>/gomaxprocs:<P>   the canonical skynet program
//	    (github.com/atemerev/skynet, skynet.go): every node starts 10
//	    goroutines and receives their sums on an unbuffered channel of its
//	    own; a leaf sends its index. N leaves, 10-ary, so N = 1e6 is
//	    1,111,111 goroutines and the sum 499999500000, checked on every
//	    iteration. Counters: tasks (goroutines per iteration), checksum.
//	    N: benches/skynet.cpp's sweep (1e4, 1e5, 1e6) at GOMAXPROCS=1, up to
//	    multiProcsMaxN at GOMAXPROCS=2 (the run's budget, see there).
//	switch/go/gomaxprocs:<P>         two goroutines ping-pong a token over two
//	    unbuffered channels, RoundTrips round trips per iteration, started
//	    and joined every iteration; each hop increments the token and adds it
//	    to its side's sum -- the body of benches/switch.cpp's task models, so
//	    a switch is one hand-off (2 per round trip) and the checksum is
//	    switches*(switches+1)/2. Counters: switches, checksum.
//
// P is set with runtime.GOMAXPROCS inside this one process before each case
// (1: one P, the goroutines take turns on one OS thread; 2: the work-stealing
// scheduler on two). GC settings are Go's defaults; runtime.GC() runs before
// every repetition, outside the timed part, so each starts from a collected
// heap.
// Why: skynet is a Go program first, and Go's scheduler (runnext, local run
// queues, stealing) is what made M:N popular; these rows put it beside the C++
// models in the same run and charts.
//
// Timing, as Google Benchmark does it: a repetition runs iterations until
// --min-time seconds have passed (at least one); real_time and cpu_time are
// per iteration (cpu_time: the process's user+system time, every thread).
// skynet at N >= oneIterationN runs one iteration per repetition, so
// repetition 0 is the cold tree of that case (as bench_skynet's n:1000000
// rows). A wrong checksum in any iteration is an error entry for the case
// (error_occurred, no timing). SY_TEST_BAD_ITERATION=k (tests only) flips
// one bit of iteration k's checksum in every repetition, like
// benches/common/bench.cpp's iteration_check.
//
// Output: context + benchmarks, one "iteration" row per repetition, names
// with GB's "/real_time" suffix, then mean/median/stddev/cv aggregates when a
// case has several repetitions -- the shape py_microbench.py writes.
//
// Build (the driver does this during `switchyard run` when `go` is installed):
//
//	GO111MODULE=off GOCACHE=<build>/peers/gocache GOPATH=<build>/peers/gopath \
//	  go build -o <build>/peers/go_microbench runners/peers/go_microbench.go
//
// Usage:
//
//	go_microbench [--tier smoke|quick|full] [--repetitions N] [--min-time S]
//	    [--filter REGEX] [--out FILE] [--list]
//
// --filter is Go's regexp (RE2), searched in the name with /real_time; the
// driver selects with Python's re itself and passes the exact names. Exit 0
// whatever the benchmarks did; bad arguments or an unwritable --out: one
// line on stderr, exit 2.
package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"sync"
	"syscall"
	"time"
)

const (
	programName   = "go_microbench"
	timeSuffix    = "/real_time"
	fanout        = 10
	oneIterationN = 1_000_000 // skynet: one iteration per repetition from here (cold rep 0)
	usageExit     = 2
	badIterEnv    = "SY_TEST_BAD_ITERATION" // test only
)

// The GOMAXPROCS values every case runs at: one P (one loop's worth, like the
// C++ workers:1 rows) and two (the machine's two CPUs; pool workers:2).
var procsSwept = []int{1, 2}

// skynet at GOMAXPROCS > 1 stops at this N: a tree of 1e6 leaves costs
// ~1.4 s of CPU per repetition on the 2-vCPU EPYC guest (measured: 1.2 us per
// goroutine, GC and first-touch page faults included), and 2 P x 2
// repetitions x 3 processes of it would be ~17 s of the run on its own. The
// whole sweep runs at GOMAXPROCS=1, beside the C++ workers:1 rows.
const multiProcsMaxN = 100_000

type tier struct {
	sizes      []uint64 // skynet leaves: benches/skynet.cpp's kSizes / kSmokeSizes
	roundTrips uint64   // switch: benches/switch.cpp's kRoundTrips by tier
	reps       int      // repetitions per case (per process)
	minTime    float64  // seconds per repetition at least (runplan.TIERS min_time)
}

var tiers = map[string]tier{
	"smoke": {sizes: []uint64{100, 1_000}, roundTrips: 100, reps: 1, minTime: 0.001},
	"quick": {sizes: []uint64{10_000, 100_000, 1_000_000}, roundTrips: 2_000, reps: 2, minTime: 0.02},
	"full":  {sizes: []uint64{10_000, 100_000, 1_000_000}, roundTrips: 10_000, reps: 2, minTime: 0.05},
}

type benchCase struct {
	name   string // without timeSuffix
	family string // "skynet" | "switch"
	n      uint64 // skynet leaves
	procs  int
}

func plan(t tier) []benchCase {
	var cases []benchCase
	for _, p := range procsSwept {
		for _, n := range t.sizes {
			if p > 1 && n > multiProcsMaxN {
				continue
			}
			cases = append(cases, benchCase{fmt.Sprintf("skynet/go/n:%d/gomaxprocs:%d", n, p),
				"skynet", n, p})
		}
	}
	for _, p := range procsSwept {
		cases = append(cases, benchCase{fmt.Sprintf("switch/go/gomaxprocs:%d", p), "switch", 0, p})
	}
	return cases
}

// ---- the workloads --------------------------------------------------------------------

// skynet is atemerev/skynet's skynet.go with unsigned sums.
func skynet(c chan<- uint64, num, size uint64) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan uint64)
	var sum uint64
	child := size / fanout
	for i := uint64(0); i < fanout; i++ {
		go skynet(rc, num+i*child, child)
	}
	for i := 0; i < fanout; i++ {
		sum += <-rc
	}
	c <- sum
}

func runSkynet(n uint64) uint64 {
	c := make(chan uint64)
	go skynet(c, 0, n)
	return <-c
}

func tasksFor(leaves uint64) uint64 {
	var t uint64
	for n := leaves; n >= 1; n /= fanout {
		t += n
	}
	return t
}

func skynetSum(leaves uint64) uint64 { return leaves * (leaves - 1) / 2 }

// runSwitch: ping and pong, each started as a goroutine and joined, as
// benches/switch.cpp's switch_main spawns and joins both tasks.
func runSwitch(hops uint64) uint64 {
	ab, ba := make(chan uint64), make(chan uint64)
	var aSum, bSum uint64
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { // ping
		defer wg.Done()
		var token uint64
		for i := uint64(0); i < hops; i++ {
			token++
			aSum += token
			ab <- token
			token = <-ba
		}
	}()
	go func() { // pong
		defer wg.Done()
		for i := uint64(0); i < hops; i++ {
			token := <-ab + 1
			bSum += token
			ba <- token
		}
	}()
	wg.Wait()
	return aSum + bSum
}

func switchSum(switches uint64) uint64 { return switches * (switches + 1) / 2 }

// ---- timing and checks ------------------------------------------------------------------

type repRow struct {
	iters   uint64
	realNs  float64 // per iteration
	cpuNs   float64 // per iteration
	counter map[string]float64
}

func cpuNow() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// badIteration: SY_TEST_BAD_ITERATION's k, or -1.
func badIteration() int64 {
	k, err := strconv.ParseInt(os.Getenv(badIterEnv), 10, 64)
	if err != nil {
		return -1
	}
	return k
}

// measure runs one case's repetitions; an error (a wrong checksum) stops it.
func measure(c benchCase, t tier, reps int, minTime float64) ([]repRow, error) {
	prev := runtime.GOMAXPROCS(c.procs)
	defer runtime.GOMAXPROCS(prev)
	var work, want uint64
	var body func() uint64
	var workKey string
	if c.family == "skynet" {
		work, want, workKey = tasksFor(c.n), skynetSum(c.n), "tasks"
		n := c.n
		body = func() uint64 { return runSkynet(n) }
	} else {
		switches := 2 * t.roundTrips
		work, want, workKey = switches, switchSum(switches), "switches"
		hops := t.roundTrips
		body = func() uint64 { return runSwitch(hops) }
	}
	oneIteration := c.family == "skynet" && c.n >= oneIterationN
	corruptAt := badIteration()
	var rows []repRow
	for r := 0; r < reps; r++ {
		runtime.GC()
		var iters uint64
		var got uint64
		badAt, badGot := int64(-1), uint64(0)
		c0, t0 := cpuNow(), time.Now()
		for {
			got = body()
			if int64(iters) == corruptAt {
				got ^= 1
			}
			if got != want && badAt < 0 {
				badAt, badGot = int64(iters), got
			}
			iters++
			if oneIteration || time.Since(t0).Seconds() >= minTime {
				break
			}
		}
		wall, cpu := time.Since(t0), cpuNow()-c0
		if badAt >= 0 {
			return nil, fmt.Errorf("checksum mismatch in iteration %d of %d (repetition %d): "+
				"got %d, expected %d", badAt+1, iters, r, badGot, want)
		}
		per := float64(wall.Nanoseconds()) / float64(iters)
		rows = append(rows, repRow{iters, per, float64(cpu.Nanoseconds()) / float64(iters),
			map[string]float64{workKey: float64(work), "checksum": float64(got),
				"gomaxprocs": float64(c.procs), "items_per_second": float64(work) / (per / 1e9)}})
	}
	return rows, nil
}

// ---- Google Benchmark JSON --------------------------------------------------------------

type entry map[string]any

func baseEntry(c benchCase, family, instance, reps, rep int) entry {
	name := c.name + timeSuffix
	return entry{"name": name, "family_index": family, "per_family_instance_index": instance,
		"run_name": name, "run_type": "iteration", "repetitions": reps,
		"repetition_index": rep, "threads": 1, "iterations": 0,
		"real_time": 0.0, "cpu_time": 0.0, "time_unit": "ns"}
}

func aggregates(c benchCase, family, instance int, rows []repRow) []entry {
	keys := []string{"real_time", "cpu_time"}
	vals := map[string][]float64{}
	for _, r := range rows {
		vals["real_time"] = append(vals["real_time"], r.realNs)
		vals["cpu_time"] = append(vals["cpu_time"], r.cpuNs)
		for k, v := range r.counter {
			vals[k] = append(vals[k], v)
		}
	}
	for k := range rows[0].counter {
		keys = append(keys, k)
	}
	var out []entry
	for _, agg := range []string{"mean", "median", "stddev", "cv"} {
		e := baseEntry(c, family, instance, len(rows), 0)
		delete(e, "repetition_index")
		e["name"] = c.name + timeSuffix + "_" + agg
		e["run_type"], e["aggregate_name"], e["iterations"] = "aggregate", agg, len(rows)
		e["aggregate_unit"] = "time"
		if agg == "cv" {
			e["aggregate_unit"] = "percentage"
		}
		for _, k := range keys {
			e[k] = stat(agg, vals[k])
		}
		out = append(out, e)
	}
	return out
}

func stat(agg string, xs []float64) float64 {
	mean := 0.0
	for _, x := range xs {
		mean += x
	}
	mean /= float64(len(xs))
	sd := 0.0
	if len(xs) > 1 {
		for _, x := range xs {
			sd += (x - mean) * (x - mean)
		}
		sd = math.Sqrt(sd / float64(len(xs)-1))
	}
	switch agg {
	case "mean":
		return mean
	case "median":
		s := append([]float64(nil), xs...)
		sort.Float64s(s)
		if len(s)%2 == 1 {
			return s[len(s)/2]
		}
		return (s[len(s)/2-1] + s[len(s)/2]) / 2
	case "stddev":
		return sd
	default: // cv
		if mean == 0 {
			return 0
		}
		return sd / mean
	}
}

func entries(cases []benchCase, t tier, reps int, minTime float64) []entry {
	var out []entry
	families := map[string][2]int{} // family key -> {family_index, next instance}
	for _, c := range cases {
		key := c.name
		if c.family == "skynet" {
			key = fmt.Sprintf("skynet/go/gomaxprocs:%d", c.procs)
		}
		f, ok := families[key]
		if !ok {
			f = [2]int{len(families), 0}
		}
		families[key] = [2]int{f[0], f[1] + 1}
		rows, err := measure(c, t, reps, minTime)
		if err != nil {
			e := baseEntry(c, f[0], f[1], reps, 0)
			e["error_occurred"], e["error_message"] = true, err.Error()
			out = append(out, e)
			continue
		}
		for i, r := range rows {
			e := baseEntry(c, f[0], f[1], reps, i)
			e["iterations"], e["real_time"], e["cpu_time"] = r.iters, r.realNs, r.cpuNs
			for k, v := range r.counter {
				e[k] = v
			}
			out = append(out, e)
		}
		if len(rows) > 1 {
			out = append(out, aggregates(c, f[0], f[1], rows)...)
		}
	}
	return out
}

func context(tierName string, t tier, reps int, minTime float64) map[string]any {
	host, _ := os.Hostname()
	exe, _ := os.Executable()
	var load []float64
	if b, err := os.ReadFile("/proc/loadavg"); err == nil {
		var a, b2, c float64
		if _, err := fmt.Sscanf(string(b), "%g %g %g", &a, &b2, &c); err == nil {
			load = []float64{a, b2, c}
		}
	}
	return map[string]any{
		"date":               time.Now().Format(time.RFC3339),
		"host_name":          host,
		"executable":         exe,
		"num_cpus":           runtime.NumCPU(),
		"load_avg":           load,
		"library_build_type": "release",
		"go":                 map[string]any{"version": runtime.Version(), "compiler": runtime.Compiler},
		"versions":           map[string]any{"go": runtime.Version()},
		"gobench": map[string]any{"tier": tierName, "repetitions": reps, "min_time_s": minTime,
			"round_trips": t.roundTrips, "gomaxprocs": procsSwept, "fanout": fanout},
	}
}

// ---- CLI ------------------------------------------------------------------------------

func fail(code int, format string, args ...any) {
	fmt.Fprintf(os.Stderr, programName+": "+format+"\n", args...)
	os.Exit(code)
}

func main() {
	flags := flag.NewFlagSet(programName, flag.ContinueOnError)
	flags.SetOutput(io.Discard)
	tierName := flags.String("tier", "quick", "sizes: smoke, quick, full")
	repsFlag := flags.Int("repetitions", -1, "repetitions per case (default: the tier's)")
	minTimeFlag := flags.Float64("min-time", -1, "seconds per repetition at least (default: the tier's)")
	filter := flags.String("filter", "", "only cases whose name matches (RE2, searched)")
	outPath := flags.String("out", "", "write the JSON here (default: stdout)")
	list := flags.Bool("list", false, "print the selected names and run nothing")
	if err := flags.Parse(os.Args[1:]); err != nil || flags.NArg() > 0 {
		if err == nil {
			err = fmt.Errorf("unexpected argument '%s'", flags.Arg(0))
		}
		fail(usageExit, "%v (usage: go_microbench [--tier smoke|quick|full] [--repetitions N] "+
			"[--min-time S] [--filter REGEX] [--out FILE] [--list])", err)
	}
	t, ok := tiers[*tierName]
	if !ok {
		fail(usageExit, "--tier: unknown tier '%s' (smoke, quick, full)", *tierName)
	}
	reps, minTime := t.reps, t.minTime
	if *repsFlag != -1 {
		if *repsFlag < 1 {
			fail(usageExit, "--repetitions: must be at least 1: '%d'", *repsFlag)
		}
		reps = *repsFlag
	}
	if *minTimeFlag != -1 {
		if !(*minTimeFlag > 0) {
			fail(usageExit, "--min-time: must be positive: '%g'", *minTimeFlag)
		}
		minTime = *minTimeFlag
	}
	cases := plan(t)
	if *filter != "" {
		re, err := regexp.Compile(*filter)
		if err != nil {
			fail(usageExit, "--filter: not a valid regular expression: %v", err)
		}
		var kept []benchCase
		for _, c := range cases {
			if re.MatchString(c.name + timeSuffix) {
				kept = append(kept, c)
			}
		}
		cases = kept
	}
	if *list {
		for _, c := range cases {
			fmt.Println(c.name + timeSuffix)
		}
		return
	}
	var out *os.File = os.Stdout
	if *outPath != "" {
		f, err := os.OpenFile(*outPath, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			fail(usageExit, "--out %s: not writable (%v)", *outPath, err)
		}
		defer f.Close()
		out = f
	}
	doc := map[string]any{"context": context(*tierName, t, reps, minTime),
		"benchmarks": entries(cases, t, reps, minTime)}
	if doc["benchmarks"].([]entry) == nil {
		doc["benchmarks"] = []entry{}
	}
	text, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		fail(1, "cannot encode the results: %v", err)
	}
	if _, err := out.Write(append(text, '\n')); err != nil {
		fail(1, "cannot write the results: %v", err)
	}
}
