package tensor

import (
	"cmp"
	"math"
	"slices"
	"sync"
)

// ArgSort is the CPU device's stable argsort along the last axis (see
// ArgSorter). Rows are sorted in parallel; each row is loaded into a float64
// (or, for integer dtypes, int64) scratch buffer so every dtype and stride
// works. Cost: O(rows · n log n) comparisons and O(n) scratch per worker.
func (cpuDevice) ArgSort(dst, src View, descending bool) {
	cpuView("ArgSort", dst)
	cpuView("ArgSort", src)
	out := dst.Storage.(*cpuStorage).buf.([]int64)
	s := src.Storage.(*cpuStorage)
	nd := len(src.Shape)
	if nd == 0 {
		out[dst.Offset] = 0
		return
	}
	n := src.Shape[nd-1]
	rows := Shape(src.Shape[:nd-1]).NumElements()
	if n == 0 || rows == 0 {
		return
	}
	// Row r's storage offset in src and dst (dst is contiguous).
	srcOff := func(r int) int {
		off := src.Offset
		for ax := nd - 2; ax >= 0; ax-- {
			off += (r % src.Shape[ax]) * src.Strides[ax]
			r /= src.Shape[ax]
		}
		return off
	}
	stride := src.Strides[nd-1]
	integer := s.dt == Int32 || s.dt == Int64 || s.dt == Bool
	workers := min(Threads(), rows, max(1, rows*n/(1<<14)))
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			fk := make([]float64, n)
			ik := make([]int64, n)
			idx := make([]int64, n)
			for r := w; r < rows; r += workers {
				for i := range idx {
					idx[i] = int64(i)
				}
				if integer {
					if s.dt == Bool {
						load(fk, s, srcOff(r), stride)
						for i, v := range fk {
							ik[i] = int64(v)
						}
					} else {
						load(ik, s, srcOff(r), stride)
					}
					if descending {
						slices.SortStableFunc(idx, func(a, b int64) int { return cmp.Compare(ik[b], ik[a]) })
					} else {
						slices.SortStableFunc(idx, func(a, b int64) int { return cmp.Compare(ik[a], ik[b]) })
					}
				} else {
					load(fk, s, srcOff(r), stride)
					// cmp.Compare orders NaN before every number; PyTorch
					// treats NaN as the largest value, so compare with NaN last.
					if descending {
						slices.SortStableFunc(idx, func(a, b int64) int { return nanLast(fk[b], fk[a]) })
					} else {
						slices.SortStableFunc(idx, func(a, b int64) int { return nanLast(fk[a], fk[b]) })
					}
				}
				copy(out[dst.Offset+r*n:dst.Offset+(r+1)*n], idx)
			}
		}()
	}
	wg.Wait()
}

// nanLast compares a and b with NaN greater than +Inf (and equal to NaN).
func nanLast(a, b float64) int {
	an, bn := math.IsNaN(a), math.IsNaN(b)
	switch {
	case an && bn:
		return 0
	case an:
		return 1
	case bn:
		return -1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
