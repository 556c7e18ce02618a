package safetensors

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// StaleTempAge is how long an unmodified temporary file of WriteFile may
// sit beside its target before a later WriteFile of the same target
// removes it even though the process that wrote it may still run (another
// host on a shared file system, or a reused process id). Saving writes its
// temporary file continuously, so a live save's file is never this old.
var StaleTempAge = 24 * time.Hour

// Temporary files of WriteFile are named
//
//	.<base>.tmp-<host>-<pid>-<random>
//
// beside the target <base>: <host> is a hash of the host name (8 hex
// digits), <pid> the writing process's id and <random> 8 random hex digits.
// The name says which target a file belongs to and who wrote it, so that a
// later save of the same target can remove the files that crashed saves
// left behind (see removeStaleTemps) without touching a concurrent save's.
const tempInfix = ".tmp-"

var hostTag = func() string {
	name, _ := os.Hostname()
	h := fnv.New32a()
	h.Write([]byte(name))
	return fmt.Sprintf("%08x", h.Sum32())
}()

// inFlight holds the temporary files this process is writing now.
var inFlight sync.Map

func tempPrefix(base string) string { return "." + base + tempInfix }

// createTemp creates the temporary file for target path and records it as
// in flight; release forgets it.
func createTemp(path string) (*os.File, func(), error) {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	var rnd [4]byte
	for range 10 {
		rand.Read(rnd[:])
		name := filepath.Join(dir, fmt.Sprintf("%s%s-%d-%s", tempPrefix(base), hostTag, os.Getpid(), hex.EncodeToString(rnd[:])))
		inFlight.Store(name, true)
		f, err := os.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			return f, func() { inFlight.Delete(name) }, nil
		}
		inFlight.Delete(name)
		if !os.IsExist(err) {
			return nil, nil, err
		}
	}
	return nil, nil, fmt.Errorf("safetensors: cannot create a temporary file beside %s", path)
}

// removeStaleTemps removes the temporary files of target path that crashed
// saves left behind, and returns how many it removed. A file is stale when
//
//   - it was written on this host by a process that no longer exists, or
//     by this process but is not one of its saves in flight (a process
//     that died and whose id came back to us, as in a restarted container);
//   - or it has not been modified for StaleTempAge (any host).
//
// Files of other targets and files whose name does not parse are left
// alone. Errors are ignored: cleaning up is best effort and never makes a
// save fail.
func removeStaleTemps(path string) int {
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return 0
	}
	prefix := tempPrefix(base)
	removed := 0
	for _, e := range entries {
		name := e.Name()
		if !strings.HasPrefix(name, prefix) || e.IsDir() {
			continue
		}
		host, pid, ok := parseTempName(name[len(prefix):])
		if !ok {
			continue
		}
		full := filepath.Join(dir, name)
		stale := false
		if host == hostTag {
			if pid == os.Getpid() {
				_, live := inFlight.Load(full)
				stale = !live
			} else {
				stale = processGone(pid)
			}
		}
		if !stale {
			info, err := e.Info()
			stale = err == nil && time.Since(info.ModTime()) > StaleTempAge
		}
		if stale && os.Remove(full) == nil {
			removed++
		}
	}
	return removed
}

// parseTempName parses the "<host>-<pid>-<random>" tail of a temporary
// file's name.
func parseTempName(tail string) (host string, pid int, ok bool) {
	parts := strings.Split(tail, "-")
	if len(parts) != 3 || len(parts[0]) != 8 || len(parts[2]) != 8 {
		return "", 0, false
	}
	if _, err := hex.DecodeString(parts[0] + parts[2]); err != nil {
		return "", 0, false
	}
	pid, err := strconv.Atoi(parts[1])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	return parts[0], pid, true
}
