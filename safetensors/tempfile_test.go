package safetensors

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func names(t *testing.T, dir string) []string {
	entries, err := os.ReadDir(dir)
	require.NoError(t, err)
	var out []string
	for _, e := range entries {
		out = append(out, e.Name())
	}
	sort.Strings(out)
	return out
}

// deadPID returns the id of a process that has exited.
func deadPID(t *testing.T) int {
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	require.NoError(t, cmd.Run())
	return cmd.Process.Pid
}

// TestWriteFileRemovesStaleTemps: the temporary files that crashed saves
// left beside a target (issue 11 item 13: 15 files of 32 MB after 30 kills)
// are removed by the next WriteFile of that target: those of a process of
// this host that has exited, those of this process's id that are not its
// saves in flight (a restarted container), and those of any host older
// than StaleTempAge. A live process's fresh file (a concurrent save),
// another target's files and files whose names do not parse stay.
func TestWriteFileRemovesStaleTemps(t *testing.T) {
	if runtime.GOOS == "windows" {
		t.Skip("process ids are not checked on windows (only the age rule)")
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	tmp := func(host string, pid int, rnd string) string {
		return fmt.Sprintf(".model.safetensors.tmp-%s-%d-%s", host, pid, rnd)
	}
	dead := deadPID(t)
	parent := os.Getppid()    // alive: the go test driver
	files := map[string]bool{ // name -> removed
		tmp(hostTag, dead, "0badc0de"):                      true,
		tmp(hostTag, os.Getpid(), "00c0ffee"):               true,
		tmp(hostTag, parent, "12345678"):                    false,
		tmp("0000beef", dead, "abcdef01"):                   false, // another host: only by age
		tmp("0000beef", dead, "abcdef02"):                   true,  // ... old
		tmp(hostTag, parent, "abcdef03"):                    true,  // live pid, old
		".other.safetensors.tmp-" + hostTag + "-1-0badc0de": false,
		".model.safetensors.tmp-notes":                      false,
		".model.safetensors.tmp-" + hostTag + "-x-0badc0de": false,
	}
	old := time.Now().Add(-StaleTempAge - time.Hour)
	for name := range files {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte("partial"), 0o600))
		if strings.HasSuffix(name, "abcdef02") || strings.HasSuffix(name, "abcdef03") {
			require.NoError(t, os.Chtimes(p, old, old))
		}
	}
	a, _ := Encode([]float32{1, 2}, 2)
	require.NoError(t, WriteFile(path, map[string]TensorInfo{"a": a}, nil))
	var want []string
	for name, removed := range files {
		if !removed {
			want = append(want, name)
		}
	}
	want = append(want, "model.safetensors")
	sort.Strings(want)
	require.Equal(t, want, names(t, dir))
}

// TestWriteFileConcurrentSavers: many goroutines saving the same target at
// once all succeed (none removes another's temporary file), the target
// holds one complete save, and no temporary file remains.
func TestWriteFileConcurrentSavers(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "ck.safetensors")
	var wg sync.WaitGroup
	errs := make([]error, 16)
	for i := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			v := make([]float32, 1<<16)
			for j := range v {
				v[j] = float32(i)
			}
			info, _ := Encode(v, len(v))
			errs[i] = WriteFile(path, map[string]TensorInfo{"w": info}, nil)
		}()
	}
	wg.Wait()
	for _, err := range errs {
		require.NoError(t, err)
	}
	f, err := ReadFile(path)
	require.NoError(t, err)
	v, err := Decode[float32](f.Tensors["w"])
	require.NoError(t, err)
	for _, x := range v {
		require.Equal(t, v[0], x, "one save's contents, not a mix")
	}
	require.Equal(t, []string{"ck.safetensors"}, names(t, dir))
}

func TestParseTempName(t *testing.T) {
	host, pid, ok := parseTempName("0123abcd-4242-deadbeef")
	require.True(t, ok)
	require.Equal(t, "0123abcd", host)
	require.Equal(t, 4242, pid)
	for _, bad := range []string{"", "notes", "0123abcd-42", "0123abcd-0-deadbeef", "0123abcd--1-deadbeef", "0123abcg-1-deadbeef", "0123abcd-1-deadbeef-x"} {
		_, _, ok := parseTempName(bad)
		require.False(t, ok, bad)
	}
}
