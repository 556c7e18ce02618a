package sqlstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// The crash test's worker processes are this test binary re-executed with
// workerEnv set to the storage spec; TestMain runs crashWorker instead of
// the tests.
const (
	workerEnv    = "HPO_SQLSTORE_CRASH_WORKER"
	workerLogEnv = "HPO_SQLSTORE_CRASH_LOG"
	crashTotal   = 40
	crashSteps   = 6
	crashStep    = 25 * time.Millisecond
	crashStale   = 1500 * time.Millisecond
)

func crashStudy(st hpo.Storage) (*hpo.Study, error) {
	return hpo.NewStudy(context.Background(), hpo.Options{
		Name: "crash", Storage: st, MaxTrials: crashTotal,
		Sampler:   hpo.NewTPESampler(hpo.TPEOptions{Seed: uint64(os.Getpid())}),
		Heartbeat: 100 * time.Millisecond, StaleAfter: crashStale, RetryStale: true,
	})
}

// crashWorker runs trials of the shared study until its budget is done,
// logging "start N PID" and "done N PID" lines.
func crashWorker(spec string) int {
	st, err := Open(spec)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer st.Close()
	logf, err := os.OpenFile(os.Getenv(workerLogEnv), os.O_APPEND|os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	defer logf.Close()
	s, err := crashStudy(st)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	pid := os.Getpid()
	err = s.Optimize(context.Background(), func(t *hpo.Trial) (float64, error) {
		fmt.Fprintf(logf, "start %d %d\n", t.Number(), pid)
		x := t.SuggestFloat("x", -2, 2)
		c := t.SuggestCategorical("c", []string{"a", "b"})
		for step := range crashSteps {
			time.Sleep(crashStep)
			if err := t.Report(step, x*x); err != nil {
				return 0, err
			}
		}
		fmt.Fprintf(logf, "done %d %d\n", t.Number(), pid)
		if c == "a" {
			return x * x, nil
		}
		return x*x + 1, nil
	}, 0, 2)
	if err != nil {
		fmt.Fprintln(os.Stderr, "worker:", err)
		return 1
	}
	return 0
}

func startWorkers(t *testing.T, spec, logPath string, n int) []*exec.Cmd {
	var cmds []*exec.Cmd
	for range n {
		c := exec.Command(os.Args[0], "-test.run=^$")
		c.Env = append(os.Environ(), workerEnv+"="+spec, workerLogEnv+"="+logPath)
		c.Stderr = os.Stderr
		require.NoError(t, c.Start())
		cmds = append(cmds, c)
	}
	return cmds
}

// Four worker processes share a study; all are SIGKILLed mid-run and four
// new ones finish it. Every trial of the budget ends complete exactly
// once: the killed workers' trials are failed as stale and re-run once
// with their parameters, and no trial number is ever started by two
// processes.
func TestCrashRecovery(t *testing.T) {
	for _, b := range backends {
		t.Run(b.name, func(t *testing.T) {
			spec := b.open(t)
			logPath := t.TempDir() + "/trials.log"
			st := openSpec(t, spec)
			s, err := crashStudy(st)
			require.NoError(t, err)
			ctx := context.Background()

			first := startWorkers(t, spec, logPath, 4)
			// Kill them all once a third of the budget is complete.
			deadline := time.Now().Add(60 * time.Second)
			for {
				ts, err := s.Trials(ctx)
				require.NoError(t, err)
				done := 0
				for _, x := range ts {
					if x.State == hpo.Complete {
						done++
					}
				}
				if done >= crashTotal/3 {
					break
				}
				require.True(t, time.Now().Before(deadline), "the first workers made no progress")
				time.Sleep(20 * time.Millisecond)
			}
			for _, c := range first {
				require.NoError(t, c.Process.Signal(syscall.SIGKILL))
			}
			for _, c := range first {
				_ = c.Wait()
			}
			// A statement a worker sent just before its death may still be
			// committed by the server after the process is gone (seen on
			// PostgreSQL: a trial counted running here completed later).
			// Count the running trials once the states have held still.
			running := -1
			for same, prev := 0, ""; same < 3; {
				ts, err := s.Trials(ctx)
				require.NoError(t, err)
				sig := fmt.Sprint(len(ts))
				running = 0
				for _, x := range ts {
					sig += fmt.Sprint(x.State)
					if x.State == hpo.Running {
						running++
					}
				}
				if sig == prev {
					same++
				} else {
					same, prev = 0, sig
				}
				time.Sleep(100 * time.Millisecond)
			}
			require.Positive(t, running, "the kill left trials running mid-way")

			second := startWorkers(t, spec, logPath, 4)
			for _, c := range second {
				require.NoError(t, c.Wait(), "a restarted worker failed")
			}

			ts, err := s.Trials(ctx)
			require.NoError(t, err)
			complete, stale := 0, 0
			retried := map[int]int{}
			for i, x := range ts {
				require.Equal(t, i, x.Number)
				switch x.State {
				case hpo.Complete:
					complete++
					if x.RetryOf >= 0 {
						retried[x.RetryOf]++
						orig := ts[x.RetryOf]
						for k, v := range orig.Params {
							assert.Equal(t, v, x.Params[k], "retry %d of %d: parameter %s", x.Number, x.RetryOf, k)
						}
					}
				case hpo.Failed:
					stale++
					assert.Contains(t, x.Err, "stale")
				default:
					t.Errorf("trial %d ended %v", x.Number, x.State)
				}
			}
			assert.Equal(t, crashTotal, complete, "every trial of the budget completes")
			assert.Equal(t, running, stale, "exactly the killed trials are stale")
			for _, x := range ts {
				if x.State == hpo.Failed {
					assert.Equal(t, 1, retried[x.Number], "stale trial %d is re-run once", x.Number)
				}
			}
			// No trial was started by two processes or finished twice.
			f, err := os.Open(logPath)
			require.NoError(t, err)
			defer f.Close()
			starts, dones := map[int]map[string]bool{}, map[int]int{}
			sc := bufio.NewScanner(f)
			for sc.Scan() {
				var kind string
				var n int
				var pid string
				_, err := fmt.Sscan(strings.TrimSpace(sc.Text()), &kind, &n, &pid)
				require.NoError(t, err, sc.Text())
				if kind == "start" {
					if starts[n] == nil {
						starts[n] = map[string]bool{}
					}
					starts[n][pid] = true
				} else {
					dones[n]++
				}
			}
			for n, pids := range starts {
				assert.Len(t, pids, 1, "trial %d started by several processes", n)
			}
			for n, c := range dones {
				assert.Equal(t, 1, c, "trial %d finished %d times", n, c)
			}
			t.Logf("%s: %d trials complete, %d killed mid-run and re-run", b.name, complete, stale)
		})
	}
}
