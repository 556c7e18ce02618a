package cpu

import (
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// float is the element type of the GEMM driver.
type float interface{ ~float32 | ~float64 }

// spec describes one micro-kernel and the cache blocking used with it.
//
// The packed A block holds ceil(mc/mr) micro-panels of kc×mr elements (mr
// contiguous per k step), the packed B block ceil(nc/nr) micro-panels of kc×nr.
// kern computes one mr×nr tile of C with unit stride along the mr dimension.
type spec[T float] struct {
	mr, nr     int
	kc, mc, nc int
	kern       func(k int, a, b, c *T, ldc int, alpha, beta T)
}

// kernelSet is one micro-kernel family for both element types.
type kernelSet struct {
	name string
	s32  *spec[float32]
	s64  *spec[float64]
}

var (
	// kernelSets lists the kernels this CPU can run, best last; the portable
	// one is always available.
	kernelSets = []kernelSet{{"generic",
		&spec[float32]{mr: 4, nr: 4, kc: 256, mc: 128, nc: 4096, kern: genericKernel4x4[float32]},
		&spec[float64]{mr: 4, nr: 4, kc: 256, mc: 128, nc: 4096, kern: genericKernel4x4[float64]}}}

	kernelName string
	spec32     *spec[float32]
	spec64     *spec[float64]

	maxThreads atomic.Int64
)

func init() {
	maxThreads.Store(int64(runtime.GOMAXPROCS(0)))
	addKernels() // amd64: the assembly kernels this CPU supports
	useKernel(kernelSets[len(kernelSets)-1].name)
	if name := os.Getenv("TESSERA_CPU_KERNEL"); name != "" {
		useKernel(name)
	}
}

// useKernel makes the named kernel set active; it reports false (and changes
// nothing) when the CPU or the build does not have it. Not safe to call
// concurrently with GEMM calls.
func useKernel(name string) bool {
	for _, ks := range kernelSets {
		if ks.name == name {
			kernelName, spec32, spec64 = ks.name, ks.s32, ks.s64
			return true
		}
	}
	return false
}

// Kernel reports which micro-kernel is active: "avx512", "avx2", or "generic".
func Kernel() string { return kernelName }

// SetMaxThreads bounds the number of goroutines one GEMM call uses (default
// runtime.GOMAXPROCS(0) at start-up) and returns the previous bound. Values
// below 1 are treated as 1.
func SetMaxThreads(n int) int {
	if n < 1 {
		n = 1
	}
	return int(maxThreads.Swap(int64(n)))
}

// MaxThreads reports the current bound set by SetMaxThreads.
func MaxThreads() int { return int(maxThreads.Load()) }

// Sgemm computes C = alpha*A*B + beta*C for an m×k A, k×n B and m×n C given by
// element strides: element (i,j) of A is a[i*rsA + j*csA], likewise for B and C.
// Transposed operands are just swapped strides; any non-negative strides work
// (row-major, column-major, or general strided views). beta==0 means C is not
// read (NaNs in C are overwritten). C must not overlap A or B.
func Sgemm(m, n, k int, alpha float32, a []float32, rsA, csA int, b []float32, rsB, csB int, beta float32, c []float32, rsC, csC int) {
	check("Sgemm", m, n, k, len(a), rsA, csA, len(b), rsB, csB, len(c), rsC, csC)
	gemm(spec32, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, rsC, csC)
}

// Dgemm is Sgemm for float64.
func Dgemm(m, n, k int, alpha float64, a []float64, rsA, csA int, b []float64, rsB, csB int, beta float64, c []float64, rsC, csC int) {
	check("Dgemm", m, n, k, len(a), rsA, csA, len(b), rsB, csB, len(c), rsC, csC)
	gemm(spec64, m, n, k, alpha, a, rsA, csA, b, rsB, csB, beta, c, rsC, csC)
}

// need is the slice length a rows×cols strided matrix touches.
func need(rows, cols, rs, cs int) int {
	if rows == 0 || cols == 0 {
		return 0
	}
	return (rows-1)*rs + (cols-1)*cs + 1
}

func check(fn string, m, n, k, la, rsA, csA, lb, rsB, csB, lc, rsC, csC int) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("cpu.%s: negative size m=%d n=%d k=%d", fn, m, n, k))
	}
	if rsA < 0 || csA < 0 || rsB < 0 || csB < 0 || rsC < 0 || csC < 0 {
		panic(fmt.Sprintf("cpu.%s: negative stride (m=%d n=%d k=%d): A %d,%d B %d,%d C %d,%d",
			fn, m, n, k, rsA, csA, rsB, csB, rsC, csC))
	}
	if w := need(m, k, rsA, csA); la < w {
		panic(fmt.Sprintf("cpu.%s: A (%dx%d, strides %d,%d) needs %d elements, have %d", fn, m, k, rsA, csA, w, la))
	}
	if w := need(k, n, rsB, csB); lb < w {
		panic(fmt.Sprintf("cpu.%s: B (%dx%d, strides %d,%d) needs %d elements, have %d", fn, k, n, rsB, csB, w, lb))
	}
	if w := need(m, n, rsC, csC); lc < w {
		panic(fmt.Sprintf("cpu.%s: C (%dx%d, strides %d,%d) needs %d elements, have %d", fn, m, n, rsC, csC, w, lc))
	}
}

// scaleC sets C = beta*C (C not read when beta == 0).
func scaleC[T float](m, n int, beta T, c []T, rsC, csC int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			p := &c[i*rsC+j*csC]
			if beta == 0 {
				*p = 0
			} else {
				*p *= beta
			}
		}
	}
}

// parallelMinWork is the m*n*k below which a call runs on the calling
// goroutine. Measured on a 2-core Zen 3 with bench/small (issue 21): a 128³
// SGEMM takes 39 µs on 2 threads and 54 µs on 1 when the second core is
// free (best of 5 rounds; on a loaded machine 2 threads can lose: 70.9 vs
// 63.4 µs), and 64³ (8.8 µs on one thread) is too short to share.
const parallelMinWork = 96 * 96 * 96

// itemsPerThread is the number of row blocks per thread a parallel call aims for.
var itemsPerThread = 2

// buffers is the per-call packing memory, recycled through a sync.Pool.
type buffers[T float] struct{ b, a, t []T }

var (
	pool32 sync.Pool
	pool64 sync.Pool
)

func getBuffers[T float]() *buffers[T] {
	p := &pool64
	if isF32[T]() {
		p = &pool32
	}
	if v := p.Get(); v != nil {
		return v.(*buffers[T])
	}
	return new(buffers[T])
}

func putBuffers[T float](bf *buffers[T]) {
	if isF32[T]() {
		pool32.Put(bf)
	} else {
		pool64.Put(bf)
	}
}

func grow[T float](s []T, n int) []T {
	if cap(s) < n {
		return make([]T, n)
	}
	return s[:n]
}

func ceilDiv(a, b int) int { return (a + b - 1) / b }

// colChunks is how many chunks of its cols column panels (or strips) a
// parallel call on nt threads cuts each of its rowItems row blocks into:
// enough for two work items per thread, when the row blocks alone are
// fewer.
func colChunks(nt, rowItems, cols int) int {
	if nt > 1 && rowItems < 2*nt {
		return min(cols, ceilDiv(2*nt, rowItems))
	}
	return 1
}

// isF32 reports whether T is a 4-byte float.
func isF32[T float]() bool {
	var z T
	return unsafe.Sizeof(z) == 4
}

// directOK reports whether a product with n columns (in the frame where C
// has unit column stride) and k steps takes the unpacked path. A tile's
// rows of A (16 × k ≤ 512 elements: at most the 32 KiB L1 cache) are
// reused across the strips of B, which stream from L2 or L3. Measured on
// Zen 4, one thread, best of 200, unpacked/packed time: 0.31-0.44 at
// 16×4096×16, 512×64×64, 32×676×10; 0.77-0.96 at 1024×256×256, 512³,
// 1024×1024×64, 128×1024×784; but 1.13-1.68 with k = 1024 (1024×64×1024,
// 256×256×1024, 1024³: the A tile no longer fits).
func directOK(n, k int) bool { return k <= directMaxK && n <= directMaxN }

const (
	directMaxK = 512
	directMaxN = 1024
)

// directGemm is sgemmDirect (same arguments and result) on up to nt
// goroutines, for a B with unit column stride (read in place) or unit row
// stride (first transposed into a k×n row-major buffer): the row tiles (and
// column chunks) are work items claimed from a counter, so a helper that
// starts late (a busy machine) leaves its share to the others.
func directGemm(nt, m, n, k int, alpha float32, a []float32, rsA, csA int, b []float32, rsB, csB int, beta float32, c []float32, ldc int) int {
	rows := directTileRows()
	done := directColumns(n)
	if rows == 0 || done == 0 {
		return 0
	}
	ldb := rsB
	if csB != 1 {
		bf := getBuffers[float32]()
		defer putBuffers(bf)
		bf.t = grow(bf.t, k*done)
		transposeInto(bf.t, b, csB, done, k)
		b, ldb = bf.t, done
	}
	// Work items: row tiles, and with fewer than two per thread also
	// chunks of 16-column strips.
	tiles := ceilDiv(m, rows)
	strips := ceilDiv(done, 16)
	chunks := colChunks(nt, tiles, strips)
	items := tiles * chunks
	if nt <= 1 || items == 1 {
		return sgemmDirect(m, n, k, alpha, a, rsA, csA, b, ldb, beta, c, ldc)
	}
	nt = min(nt, items)
	ph := newPhases(1)
	work := func() {
		for {
			it := ph.claim(0)
			if it >= items {
				return
			}
			t, q := it/chunks, it%chunks
			i0, i1 := t*m/tiles, (t+1)*m/tiles
			j0, j1 := q*strips/chunks*16, min(done, (q+1)*strips/chunks*16)
			sgemmDirect(i1-i0, j1-j0, k, alpha, a[i0*rsA:], rsA, csA, b[j0:], ldb, beta, c[i0*ldc+j0:], ldc)
			ph.finish(0, items)
		}
	}
	for range nt - 1 {
		if !submit(work) {
			break // helpers busy (many concurrent calls): fewer threads
		}
	}
	work()
	ph.wait(0)
	return done
}

// transposeInto sets dst[p*n+j] = b[j*cs+p] for j < n, p < k: the k×n
// row-major copy of a B whose n columns are contiguous along k, cs apart
// (8×8 register transposes where the CPU has them).
func transposeInto(dst, b []float32, cs, n, k int) {
	if r, _ := packTransAsm(dst, b, 0, cs, n, k, n); r == n {
		return
	}
	for j := range n {
		col := b[j*cs : j*cs+k]
		for p, v := range col {
			dst[p*n+j] = v
		}
	}
}

// gemm is the blocked driver (BLIS loop order jc, pc, ic, jr, ir).
func gemm[T float](s *spec[T], m, n, k int, alpha T, a []T, rsA, csA int, b []T, rsB, csB int, beta T, c []T, rsC, csC int) {
	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, rsC, csC)
		return
	}
	if isF32[T]() {
		// Float32 products run without packing A (or B, unless it is
		// transposed) in the frame where C has unit column stride (C
		// row-major; else Cᵀ = Bᵀ·Aᵀ), when A and B each have a unit
		// stride and the sizes suit (directOK); what the direct kernels
		// leave (AVX2: fewer than 16 columns) goes on below.
		tr := csC != 1 && rsC == 1
		fm, fn, fa, rsFA, csFA, fb, rsFB, csFB, ldFC := m, n, a, rsA, csA, b, rsB, csB, rsC
		if tr {
			fm, fn, fa, rsFA, csFA, fb, rsFB, csFB, ldFC = n, m, b, csB, rsB, a, csA, rsA, csC
		}
		if (csC == 1 || tr) && (csFA == 1 || rsFA == 1) && (csFB == 1 || rsFB == 1) && directOK(fn, k) {
			nt := 1
			if m*n*k >= parallelMinWork {
				nt = MaxThreads()
			}
			d := directGemm(nt, fm, fn, k, float32(alpha), f32(fa), rsFA, csFA, f32(fb), rsFB, csFB, float32(beta), f32(c), ldFC)
			if d == fn {
				return
			}
			if tr {
				m -= d
				a, c = a[d*rsA:], c[d*rsC:]
			} else {
				n -= d
				b, c = b[d*csB:], c[d*csC:]
			}
		}
	}
	// The micro-kernel stores along the mr dimension with unit stride. For a C
	// with unit column stride (row-major) compute Cᵀ = Bᵀ·Aᵀ instead.
	if rsC != 1 && csC == 1 {
		m, n = n, m
		a, b = b, a
		rsA, csA, rsB, csB = csB, rsB, csA, rsA
		rsC, csC = csC, rsC
	}
	direct := rsC == 1

	nt := MaxThreads()
	if m*n*k < parallelMinWork {
		nt = 1
	}
	mr, nr := s.mr, s.nr
	kc := min(s.kc, k)
	// Spread k evenly over the kc blocks.
	kc = ceilDiv(k, ceilDiv(k, kc))
	nc := min(s.nc, ceilDiv(n, nr)*nr)
	nc = ceilDiv(ceilDiv(n, ceilDiv(n, nc)), nr) * nr

	panM := ceilDiv(m, mr)
	// Work items of one (jc, pc) step are (row block, column chunk) pairs taken
	// from an atomic counter, so a thread that is slowed down (a busy machine)
	// does not hold up the others. Row blocks of at most mc rows share the
	// packed B block; with few row blocks the column micro-panels are chunked
	// too.
	mcEff := min(s.mc, panM*mr)
	numBI := ceilDiv(m, mcEff)
	if nt > 1 {
		// A multiple of nt row blocks, at least itemsPerThread per thread.
		numBI = ceilDiv(max(numBI, itemsPerThread*nt), nt) * nt
	}
	mcEff = ceilDiv(ceilDiv(m, numBI), mr) * mr // even blocks
	numBI = ceilDiv(m, mcEff)

	bf := getBuffers[T]()
	defer putBuffers(bf)
	if nt == 1 {
		// One goroutine: no phases to synchronise, no closure; B is packed
		// one (jc, pc) block at a time as below.
		bf.b = grow(bf.b, nc*kc)
		bf.a = grow(bf.a, mcEff*kc+mr*nr)
		var bufT []T
		if rsB == 1 && csB != 1 {
			bf.t = grow(bf.t, packChunk*nr*kc)
			bufT = bf.t
		}
		gemmSerial(s, m, n, k, kc, nc, mcEff, alpha, a, rsA, csA, b, rsB, csB, beta, c, rsC, csC, bf.b, bf.a, bufT)
		return
	}
	// Per thread: an A block of mcEff×kc, plus one mr×nr tile.
	aSize := mcEff * kc
	tileSize := mr * nr
	bf.b = grow(bf.b, nc*kc)
	bf.a = grow(bf.a, nt*(aSize+tileSize))
	bufB, bufAll := bf.b, bf.a // locals: a late helper must not read bf after it is pooled again

	// Every thread runs the same loop nest (SPMD). Each (jc, pc) step has two
	// phases, packing B and computing, whose items threads claim from
	// per-phase counters; a phase starts once every item of the previous one
	// is done. A thread that starts late (or is descheduled) holds nobody up:
	// it finds earlier phases finished and joins the current one.
	nsteps := ceilDiv(n, nc) * ceilDiv(k, kc)
	ph := newPhases(2 * nsteps)
	worker := func(t int) {
		step := 0
		off := t * (aSize + tileSize)
		bufA := bufAll[off : off+aSize]
		tile := bufAll[off+aSize : off+aSize+tileSize]
		for jc := 0; jc < n; jc += nc {
			nb := min(nc, n-jc)
			panN := ceilDiv(nb, nr)
			numBJ := colChunks(nt, numBI, panN)
			items := numBI * numBJ
			for pc := 0; pc < k; pc += kc {
				kb := min(kc, k-pc)
				betaEff := beta
				if pc > 0 {
					betaEff = 1
				}
				// Pack B (kb×nb) cooperatively, a few micro-panels per item.
				const group = 4
				phB, phC := 2*step, 2*step+1
				step++
				groups := ceilDiv(panN, group)
				ph.wait(phB - 1) // bufB is free
				for {
					g := ph.claim(phB)
					if g >= groups {
						break
					}
					for jp := g * group; jp < min(panN, (g+1)*group); jp++ {
						j0 := jp * nr
						packPanel(bufB[jp*nr*kb:(jp+1)*nr*kb], b, csB, rsB, jc+j0, min(nr, nb-j0), pc, kb, nr)
					}
					ph.finish(phB, groups)
				}
				ph.wait(phB)
				packed := -1 // row block held in bufA
				for {
					item := ph.claim(phC)
					if item >= items {
						break
					}
					bi, bj := item/numBJ, item%numBJ
					ic := bi * mcEff
					mb := min(mcEff, m-ic)
					pa := ceilDiv(mb, mr)
					if packed != bi {
						for ip := 0; ip < pa; ip++ {
							r0 := ip * mr
							packPanel(bufA[ip*mr*kb:(ip+1)*mr*kb], a, rsA, csA, ic+r0, min(mr, mb-r0), pc, kb, mr)
						}
						packed = bi
					}
					for jp := bj * panN / numBJ; jp < (bj+1)*panN/numBJ; jp++ {
						j0 := jp * nr
						nn := min(nr, nb-j0)
						pb := &bufB[jp*nr*kb]
						for ip := 0; ip < pa; ip++ {
							r0 := ip * mr
							mm := min(mr, mb-r0)
							pA := &bufA[ip*mr*kb]
							ci := (ic+r0)*rsC + (jc+j0)*csC
							if direct && mm == mr && nn == nr {
								s.kern(kb, pA, pb, &c[ci], csC, alpha, betaEff)
								continue
							}
							s.kern(kb, pA, pb, &tile[0], mr, alpha, 0)
							for j := 0; j < nn; j++ {
								cj := c[ci+j*csC:]
								tj := tile[j*mr : j*mr+mm]
								if betaEff == 0 {
									for i, v := range tj {
										cj[i*rsC] = v
									}
								} else {
									for i, v := range tj {
										cj[i*rsC] = v + betaEff*cj[i*rsC]
									}
								}
							}
						}
					}
					ph.finish(phC, items)
				}
			}
		}
	}
	if nt == 1 {
		worker(0)
		return
	}
	for t := 1; t < nt; t++ {
		if !submit(func() { worker(t) }) {
			break // helpers busy (many concurrent calls): fewer threads
		}
	}
	worker(0)
	// Every item is done once the last phase is; a late helper finds nothing
	// left to claim and touches no buffer.
	ph.wait(2*nsteps - 1)
}

// gemmSerial is gemm's loop nest on the calling goroutine (after the
// transposition to a C with unit row stride, if any): the path of every
// product too small to share, e.g. the M, N, K <= 64 products of small
// models. bufB holds nc×kc elements, bufA mcEff×kc plus one mr×nr tile;
// bufT, when not nil, packChunk·nr×kc for packing a B that is contiguous along k
// (rsB == 1: a row-major A before the transposition) in two vectorised
// passes, see packBTransposed.
func gemmSerial[T float](s *spec[T], m, n, k, kc, nc, mcEff int, alpha T, a []T, rsA, csA int, b []T, rsB, csB int,
	beta T, c []T, rsC, csC int, bufB, bufA, bufT []T) {
	mr, nr := s.mr, s.nr
	direct := rsC == 1
	tile := bufA[mcEff*kc : mcEff*kc+mr*nr]
	// An A whose columns are mr contiguous elements apart with unit row
	// stride (after the transposition: a row-major B with N = mr, e.g. the
	// 16-wide float32 products) is already laid out as packed panels: the
	// kernel reads its full panels in place.
	aPacked := rsA == 1 && csA == mr
	for jc := 0; jc < n; jc += nc {
		nb := min(nc, n-jc)
		panN := ceilDiv(nb, nr)
		for pc := 0; pc < k; pc += kc {
			kb := min(kc, k-pc)
			betaEff := beta
			if pc > 0 {
				betaEff = 1
			}
			if bufT == nil || !packBTransposed(bufB, bufT, b, jc*csB+pc, csB, nb, kb, nr) {
				for jp := range panN {
					j0 := jp * nr
					packPanel(bufB[jp*nr*kb:(jp+1)*nr*kb], b, csB, rsB, jc+j0, min(nr, nb-j0), pc, kb, nr)
				}
			}
			for ic := 0; ic < m; ic += mcEff {
				mb := min(mcEff, m-ic)
				pa := ceilDiv(mb, mr)
				for ip := range pa {
					r0 := ip * mr
					if aPacked && r0+mr <= mb {
						continue // read in place below
					}
					packPanel(bufA[ip*mr*kb:(ip+1)*mr*kb], a, rsA, csA, ic+r0, min(mr, mb-r0), pc, kb, mr)
				}
				for jp := range panN {
					j0 := jp * nr
					nn := min(nr, nb-j0)
					pb := &bufB[jp*nr*kb]
					for ip := range pa {
						r0 := ip * mr
						mm := min(mr, mb-r0)
						ci := (ic+r0)*rsC + (jc+j0)*csC
						pA := &bufA[ip*mr*kb]
						if aPacked && mm == mr {
							pA = &a[(ic+r0)+pc*csA]
						}
						if direct && mm == mr && nn == nr {
							s.kern(kb, pA, pb, &c[ci], csC, alpha, betaEff)
							continue
						}
						s.kern(kb, pA, pb, &tile[0], mr, alpha, 0)
						storeTile(c[ci:], tile, mm, nn, mr, rsC, csC, betaEff)
					}
				}
			}
		}
	}
}

// packBTransposed packs the kb×nb block of B at b[base:] whose columns are
// contiguous along k (column j at b[base+j*cs:], kb elements) into
// micro-panels of nr columns, as packPanel would: a chunk of panels at a
// time is transposed into tmp (kb×cw, row-major) with 8×8 register
// transposes, then each panel is kb copies of nr contiguous elements.
// Packing panel by panel would read nr columns at a time, element by
// element, which costs more than the small products' arithmetic. A chunk is
// packChunk panels, so tmp stays in the L1/L2 cache however wide B is; a
// last chunk narrower than 8 columns goes through packPanel. It reports
// false (and packs nothing) where the register transposes do not apply
// (not float32, no AVX, kb < 8, nb < 8).
func packBTransposed[T float](dst, tmp, b []T, base, cs, nb, kb, nr int) bool {
	if !isF32[T]() || !hasTransposeAsm || kb < 8 || nb < 8 {
		return false
	}
	panN := ceilDiv(nb, nr)
	step := packChunk * nr
	for c0 := 0; c0 < nb; c0 += step {
		cw := min(step, nb-c0)
		if cw < 8 {
			for jp := c0 / nr; jp < panN; jp++ {
				j0 := jp * nr
				packPanel(dst[jp*nr*kb:(jp+1)*nr*kb], b[base:], cs, 1, j0, min(nr, nb-j0), 0, kb, nr)
			}
			break
		}
		t := tmp[:cw*kb]
		packTransAsm(t, b, base+c0*cs, cs, cw, kb, cw)
		full := cw / nr
		d := dst[c0*kb:]
		if nr == 6 {
			// Concrete float32 element copies; packCopy's array moves
			// through the type parameter are a memmove call per group.
			panels6F32(f32(d), f32(t), cw, kb, full)
		} else {
			full = 0
		}
		for jp := full; jp < ceilDiv(cw, nr); jp++ {
			j0 := jp * nr
			nn := min(nr, cw-j0)
			dp := d[jp*nr*kb : (jp+1)*nr*kb]
			for p := range kb {
				// element by element: copy and clear are runtime calls,
				// too dear for a few elements per step
				g, row := dp[p*nr:p*nr+nr], t[p*cw+j0:p*cw+j0+nn]
				for i := range g {
					var v T
					if i < len(row) {
						v = row[i]
					}
					g[i] = v
				}
			}
		}
	}
	return true
}

// packChunk is the number of micro-panels packBTransposed transposes at a
// time (48 float32 columns of up to kc = 256 steps: 48 KiB).
const packChunk = 8

// f32 reinterprets a []T of 4-byte elements as []float32.
func f32[T float](s []T) []float32 {
	return unsafe.Slice((*float32)(unsafe.Pointer(unsafe.SliceData(s))), len(s))
}

// panels6F32 copies the first full panels of 6 columns of the kb×nb
// row-major tmp into micro-panels of kb groups of 6.
func panels6F32(dst, tmp []float32, nb, kb, full int) {
	for jp := range full {
		d := dst[jp*6*kb : (jp+1)*6*kb]
		src := tmp[jp*6:]
		for p := range kb {
			// element by element: an array assignment here is a memmove call
			dd, ss := d[p*6:p*6+6:p*6+6], src[p*nb:p*nb+6:p*nb+6]
			dd[0], dd[1], dd[2], dd[3], dd[4], dd[5] = ss[0], ss[1], ss[2], ss[3], ss[4], ss[5]
		}
	}
}

// storeTile writes the mm×nn corner of an mr-row tile (column-major) into
// C at c[0]: c = tile + beta*c (C not read when beta == 0).
func storeTile[T float](c, tile []T, mm, nn, mr, rsC, csC int, beta T) {
	for j := range nn {
		cj := c[j*csC:]
		tj := tile[j*mr : j*mr+mm]
		if beta == 0 {
			for i, v := range tj {
				cj[i*rsC] = v
			}
		} else {
			for i, v := range tj {
				cj[i*rsC] = v + beta*cj[i*rsC]
			}
		}
	}
}

// Helper goroutines are kept between calls: after a job a helper polls for the
// next one for helperSpin (as OpenBLAS threads do) before it parks, so
// back-to-back calls do not pay a thread wake-up each.
var helperSpin = 100 * time.Microsecond

var helpers struct {
	mu      sync.Mutex
	started int
	jobs    chan func()
}

func init() { helpers.jobs = make(chan func(), 64) }

// submit hands f to a helper goroutine, starting helpers up to
// MaxThreads()-1; it reports false when the queue is full.
func submit(f func()) bool {
	helpers.mu.Lock()
	for helpers.started < MaxThreads()-1 {
		helpers.started++
		go helper()
	}
	helpers.mu.Unlock()
	select {
	case helpers.jobs <- f:
		return true
	default:
		return false
	}
}

func helper() {
	for {
		var f func()
		t0 := time.Now()
	spin:
		for i := 0; ; i++ {
			select {
			case f = <-helpers.jobs:
				break spin
			default:
			}
			if i&63 == 63 && time.Since(t0) > helperSpin {
				f = <-helpers.jobs
				break
			}
			runtime.Gosched()
		}
		f()
	}
}

// phases tracks the items of a call's sequential phases: claim hands out
// item numbers, finish counts completed ones, wait blocks until a phase is
// complete. Waiters spin briefly (balanced phases end close together) and then
// sleep, so a thread descheduled on a busy machine does not have its partner
// burn a core.
type phases struct {
	claimed []atomic.Int64
	done    []atomic.Int64
	total   []atomic.Int64 // items of the phase, once its first item finished
	mu      sync.Mutex
	cond    sync.Cond
}

func newPhases(n int) *phases {
	p := &phases{claimed: make([]atomic.Int64, n), done: make([]atomic.Int64, n), total: make([]atomic.Int64, n)}
	p.cond.L = &p.mu
	return p
}

func (p *phases) claim(ph int) int { return int(p.claimed[ph].Add(1)) - 1 }

// finish records one completed item of phase ph, which has items items.
func (p *phases) finish(ph, items int) {
	p.total[ph].Store(int64(items))
	if p.done[ph].Add(1) == int64(items) {
		p.mu.Lock()
		p.cond.Broadcast()
		p.mu.Unlock()
	}
}

// complete reports whether every item of phase ph is done (every phase has at
// least one item; its finishers publish the count).
func (p *phases) complete(ph int) bool {
	t := p.total[ph].Load()
	return t > 0 && p.done[ph].Load() == t
}

// phaseSpins is how many times a waiter polls (yielding to the Go scheduler)
// before it sleeps.
const phaseSpins = 200

// wait blocks until phase ph (ph >= 0) is complete.
func (p *phases) wait(ph int) {
	if ph < 0 || p.complete(ph) {
		return
	}
	for i := 0; i < phaseSpins; i++ {
		if p.complete(ph) {
			return
		}
		if i >= 16 {
			runtime.Gosched()
		}
	}
	p.mu.Lock()
	for !p.complete(ph) {
		p.cond.Wait()
	}
	p.mu.Unlock()
}

// packPanel packs rows r0..r0+rows-1 (rows <= w) and columns p0..p0+kb-1 of the
// strided matrix x (element (r,p) at x[r*rs+p*cs]) into dst as kb steps of w
// contiguous elements, zero-padding rows >= rows. The caller has checked that
// x holds every element addressed.
func packPanel[T float](dst, x []T, rs, cs, r0, rows, p0, kb, w int) {
	dst = dst[:kb*w]
	base := r0*rs + p0*cs
	if rs == 1 && rows == w {
		// Unit stride along the panel: kb contiguous copies of w elements.
		if packCopyAsm(dst, x[base:], cs, kb, w) || packCopy(dst, x[base:], cs, kb, w) {
			return
		}
		for p := 0; p < kb; p++ {
			copy(dst[p*w:p*w+w], x[base+p*cs:base+p*cs+w])
		}
		return
	}
	var z T
	sz := unsafe.Sizeof(z)
	src := unsafe.Pointer(unsafe.SliceData(x))
	src = unsafe.Add(src, uintptr(base)*sz)
	rstep := uintptr(rs) * sz
	cstep := uintptr(cs) * sz
	// Rows contiguous along k (a transposed operand): 8×8 register
	// transposes for the bulk, element by element for what is left.
	r8, k8 := 0, 0
	if cs == 1 {
		r8, k8 = packTransAsm(dst, x, base, rs, rows, kb, w)
	}
	for p := 0; p < kb; p++ {
		d := dst[p*w : p*w+rows]
		if p < k8 {
			d = d[r8:]
		}
		if len(d) == 0 {
			continue // (no pointer past the operand: checkptr)
		}
		q := unsafe.Add(src, uintptr(p)*cstep)
		if p < k8 {
			q = unsafe.Add(q, uintptr(r8)*rstep)
		}
		for r := range d {
			d[r] = *(*T)(unsafe.Add(q, uintptr(r)*rstep))
		}
	}
	if rows < w {
		for p := 0; p < kb; p++ {
			clear(dst[p*w+rows : p*w+w])
		}
	}
}

// packCopy copies kb groups of w contiguous elements (group p at x[p*cs:])
// into dst for the common panel widths, as fixed-size array moves.
func packCopy[T float](dst, x []T, cs, kb, w int) bool {
	switch w {
	case 32:
		for p := 0; p < kb; p++ {
			*(*[32]T)(dst[p*32:]) = *(*[32]T)(x[p*cs:])
		}
	case 16:
		for p := 0; p < kb; p++ {
			*(*[16]T)(dst[p*16:]) = *(*[16]T)(x[p*cs:])
		}
	case 12:
		for p := 0; p < kb; p++ {
			*(*[12]T)(dst[p*12:]) = *(*[12]T)(x[p*cs:])
		}
	case 8:
		for p := 0; p < kb; p++ {
			*(*[8]T)(dst[p*8:]) = *(*[8]T)(x[p*cs:])
		}
	case 6:
		for p := 0; p < kb; p++ {
			*(*[6]T)(dst[p*6:]) = *(*[6]T)(x[p*cs:])
		}
	case 4:
		for p := 0; p < kb; p++ {
			*(*[4]T)(dst[p*4:]) = *(*[4]T)(x[p*cs:])
		}
	default:
		return false
	}
	return true
}
