//go:build !linux && !darwin

package tensor

import "math"

// physicalMemory is unknown here: no limit but the address space unless
// SetHostMemoryLimit or EnvHostMemoryLimit sets one.
func physicalMemory() int64 { return math.MaxInt64 }
