package tensor

import (
	"errors"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
)

// ErrOutOfMemory is wrapped by the error of a host allocation that does not
// fit in the host memory limit (see SetHostMemoryLimit). Ops panic with a
// *Error that wraps it, so
//
//	err := tensor.Try(func() { t = tensor.Zeros(tensor.Float32, 1<<40) })
//	errors.Is(err, tensor.ErrOutOfMemory) // true
//
// GPU allocations report their own out-of-memory error the same way (a
// *Error wrapping cuda.ErrOutOfMemory).
var ErrOutOfMemory = errors.New("tensor: out of memory")

// EnvHostMemoryLimit names the environment variable that sets the host
// memory limit at start-up: a number of bytes, optionally with a unit
// (KiB, MiB, GiB, TiB, or K, M, G, T meaning the same, or KB, MB, GB, TB
// meaning powers of 1000), e.g. TESSERA_HOST_MEMORY_LIMIT=12GiB.
const EnvHostMemoryLimit = "TESSERA_HOST_MEMORY_LIMIT"

// hostCheckMin is the allocation size below which the check is a single
// comparison: smaller allocations are only compared with the limit, larger
// ones also with the memory the process already uses.
const hostCheckMin = 64 << 20

var (
	// hostFast is the size up to which an allocation needs no check
	// (min(hostCheckMin, limit)); the hot path reads only this.
	hostFast atomic.Int64
	// hostLimit is the limit in bytes, once hostInit ran.
	hostLimit atomic.Int64
	hostOnce  sync.Once
	hostEnv   string // a value of EnvHostMemoryLimit that could not be read
	hostMu    sync.Mutex
	hostSmp   = []metrics.Sample{
		{Name: "/memory/classes/total:bytes"},
		{Name: "/memory/classes/heap/released:bytes"},
		{Name: "/memory/classes/heap/free:bytes"},
	}
)

func init() { hostFast.Store(hostCheckMin) }

func hostInit() {
	hostOnce.Do(func() {
		lim := defaultHostLimit()
		hostLimit.Store(lim)
		hostFast.Store(min(hostCheckMin, lim))
	})
}

// defaultHostLimit is the limit from EnvHostMemoryLimit, else the memory
// the machine (or its cgroup) gives the process.
func defaultHostLimit() int64 {
	if s := os.Getenv(EnvHostMemoryLimit); s != "" {
		if n, err := parseBytes(s); err == nil {
			return n
		}
		hostEnv = s
	}
	return physicalMemory()
}

// parseBytes reads "12GiB", "512M", "1.5GB", "1000000".
func parseBytes(s string) (int64, error) {
	s = strings.TrimSpace(s)
	i := strings.IndexFunc(s, func(r rune) bool { return (r < '0' || r > '9') && r != '.' })
	num, unit := s, ""
	if i >= 0 {
		num, unit = s[:i], strings.ToUpper(strings.TrimSpace(s[i:]))
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil {
		return 0, err
	}
	mult := map[string]float64{
		"": 1, "B": 1,
		"K": 1 << 10, "KIB": 1 << 10, "M": 1 << 20, "MIB": 1 << 20, "G": 1 << 30, "GIB": 1 << 30, "T": 1 << 40, "TIB": 1 << 40,
		"KB": 1e3, "MB": 1e6, "GB": 1e9, "TB": 1e12,
	}[unit]
	if mult == 0 || v <= 0 || v*mult >= math.MaxInt64 {
		return 0, fmt.Errorf("bad size %q", s)
	}
	return int64(v * mult), nil
}

// SetHostMemoryLimit sets the most bytes one host tensor allocation may
// take together with the memory the process already holds (the Go
// runtime's mapped memory that is in use) and returns the previous limit.
// The default is the machine's physical memory (its cgroup's limit when
// lower) or EnvHostMemoryLimit; n == 0 restores it and a negative n only
// reads the limit. An allocation beyond the limit panics with a *Error
// wrapping ErrOutOfMemory that names the bytes asked and available,
// instead of the Go runtime's unrecoverable "fatal error: out of memory".
//
// Allocations under 64 MiB are only compared with the limit (one
// comparison); larger ones also with the memory in use, after a garbage
// collection when it looks short. The check is not a reservation:
// goroutines allocating at the same moment, cgo or other processes can
// still exhaust the machine.
func SetHostMemoryLimit(n int64) int64 {
	hostInit()
	hostMu.Lock()
	defer hostMu.Unlock()
	prev := hostLimit.Load()
	switch {
	case n < 0:
		return prev
	case n == 0:
		n = defaultHostLimit()
	}
	hostLimit.Store(n)
	hostFast.Store(min(hostCheckMin, n))
	return prev
}

// HostMemoryLimit returns the host memory limit in bytes (see
// SetHostMemoryLimit).
func HostMemoryLimit() int64 { return SetHostMemoryLimit(-1) }

// hostAllocErr returns nil when n elements of size bytes may be allocated
// on the host, otherwise an error wrapping ErrOutOfMemory.
func hostAllocErr(n, size int) error {
	if hi, lo := bits.Mul64(uint64(n), uint64(size)); hi == 0 && lo <= uint64(hostFast.Load()) {
		return nil
	}
	return hostAllocSlow(n, size)
}

func hostAllocSlow(n, size int) error {
	hostInit()
	lim := hostLimit.Load()
	hi, lo := bits.Mul64(uint64(n), uint64(size))
	if hi != 0 || lo > math.MaxInt64 {
		return fmt.Errorf("%w: %d elements of %d bytes (more bytes than an int64 counts) asked, %s", ErrOutOfMemory, n, size, hostAvail(lim, hostInUse()))
	}
	bytes := int64(lo)
	if bytes <= lim {
		if bytes < hostCheckMin || hostInUse() <= lim-bytes {
			return nil
		}
		// Dead tensors may hold the memory: collect them (and the buffers
		// kept for reuse) before giving up, as the CUDA allocator does.
		dropRecycled()
		runtime.GC()
		if hostInUse() <= lim-bytes {
			return nil
		}
	}
	return fmt.Errorf("%w: %d bytes asked, %s", ErrOutOfMemory, bytes, hostAvail(lim, hostInUse()))
}

func hostAvail(lim, inUse int64) string {
	s := fmt.Sprintf("%d available (host memory limit %d bytes, %d in use; tensor.SetHostMemoryLimit or %s changes the limit)",
		max(lim-inUse, 0), lim, inUse, EnvHostMemoryLimit)
	if hostEnv != "" {
		s += fmt.Sprintf("; %s=%q was not understood", EnvHostMemoryLimit, hostEnv)
	}
	return s
}

// HostMemoryInUse returns the host memory the process holds as the limit
// counts it: what the Go runtime has mapped, less the heap it has freed or
// returned to the system.
func HostMemoryInUse() int64 { return hostInUse() }

// hostInUse is the memory the Go runtime has mapped and not freed.
func hostInUse() int64 {
	hostMu.Lock()
	defer hostMu.Unlock()
	metrics.Read(hostSmp)
	v := func(i int) int64 {
		if hostSmp[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return int64(hostSmp[i].Value.Uint64())
	}
	return v(0) - v(1) - v(2)
}

// dropRecycled lets the garbage collector have the buffers kept for reuse.
func dropRecycled() {
	recycler.Lock()
	clear(recycler.free)
	recycler.bytes = 0
	recycler.Unlock()
}
