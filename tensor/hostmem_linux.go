package tensor

import (
	"math"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// physicalMemory is the machine's RAM (sysinfo), or the memory limit of
// the process's cgroup (v2 memory.max or v1 memory.limit_in_bytes) when
// that is lower.
func physicalMemory() int64 {
	lim := int64(math.MaxInt64)
	var si unix.Sysinfo_t
	if unix.Sysinfo(&si) == nil && si.Totalram > 0 {
		total := uint64(si.Totalram) * uint64(max(si.Unit, 1))
		lim = int64(min(total, math.MaxInt64))
	}
	for _, f := range []string{"/sys/fs/cgroup/memory.max", "/sys/fs/cgroup/memory/memory.limit_in_bytes"} {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		if n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64); err == nil && n > 0 {
			lim = min(lim, n)
		}
	}
	return lim
}
