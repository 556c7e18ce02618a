package tensor

import (
	"math"

	"golang.org/x/sys/unix"
)

// physicalMemory is the machine's RAM (sysctl hw.memsize).
func physicalMemory() int64 {
	if n, err := unix.SysctlUint64("hw.memsize"); err == nil && n > 0 {
		return int64(min(n, math.MaxInt64))
	}
	return math.MaxInt64
}
