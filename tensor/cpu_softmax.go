package tensor

import "math"

func (cpuDevice) Softmax(dst, src View, log bool) {
	cpuView("Softmax", dst)
	nd := len(src.Shape)
	if nd == 0 {
		CPU.Fill(dst, map[bool]float64{false: 1, true: 0}[log])
		return
	}
	L := src.Shape[nd-1]
	ss, ds := src.Strides[nd-1], dst.Strides[nd-1]
	outer := src.Shape[:nd-1]
	l := makeLoop(outer, withShape(dst, outer, dst.Strides[:nd-1], dst.Offset), withShape(src, outer, src.Strides[:nd-1], src.Offset))
	if l.numel == 0 || L == 0 {
		return
	}
	sst, dst2 := src.Storage.(*cpuStorage), dst.Storage.(*cpuStorage)
	s32, ok1 := sst.buf.([]float32)
	d32, ok2 := dst2.buf.([]float32)
	if ok1 && ok2 && ss == 1 && ds == 1 {
		l.run(L*4, func() func([]int, int) {
			return func(offs []int, n int) {
				for i := range n {
					so, do := offs[1]+i*l.inner(1), offs[0]+i*l.inner(0)
					softmaxRow32(d32[do:do+L], s32[so:so+L], log)
				}
			}
		})
		return
	}
	l.run(L*10, func() func([]int, int) {
		row := make([]float64, L)
		return func(offs []int, n int) {
			for i := range n {
				load(row, sst, offs[1]+i*l.inner(1), ss)
				softmaxRow(row, log)
				store(dst2, offs[0]+i*l.inner(0), ds, row)
			}
		}
	})
}

func softmaxRow(x []float64, log bool) {
	m := math.Inf(-1)
	for _, v := range x {
		if v > m || v != v {
			m = v
		}
	}
	if math.IsInf(m, -1) { // all -Inf: softmax is undefined; PyTorch gives NaN
		m = 0
	}
	s := 0.0
	for _, v := range x {
		s += math.Exp(v - m)
	}
	if log {
		ls := m + math.Log(s)
		for i, v := range x {
			x[i] = v - ls
		}
		return
	}
	inv := 1 / s
	for i, v := range x {
		x[i] = math.Exp(v-m) * inv
	}
}

func softmaxRow32(d, x []float32, log bool) {
	x = x[:len(d)]
	m := maxF32(x) // NaNs reach every output through the sum below
	if math.IsInf(float64(m), -1) {
		m = 0
	}
	s := expF32(d, x, m)
	if log {
		// (v - m) is exact for v near m; folding m into log(s) first would
		// round at m's magnitude and lose digits for large logits.
		affineF32(d, x, 1, -m)
		affineF32(d, d, 1, -float32(math.Log(s)))
		return
	}
	affineF32(d, d, float32(1/s), 0)
}
