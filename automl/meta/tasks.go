package meta

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"

	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/tensor"
)

// Task is one few-shot learning problem: a support set the learner adapts
// on and a query set it is evaluated on. Regression tasks have float
// targets of the prediction's shape; classification tasks have Int64 class
// indices.
type Task struct {
	XS, YS *tensor.Tensor // support inputs and targets
	XQ, YQ *tensor.Tensor // query inputs and targets
	// Info describes the task (e.g. a sine's amplitude and phase); samplers
	// fill it for plots and logs.
	Info map[string]float64
}

// Sampler draws tasks from a task distribution.
type Sampler interface {
	// Sample draws one task using r.
	Sample(r *rand.Rand) Task
}

// SampleBatch draws n tasks from s in order (a meta-batch).
func SampleBatch(s Sampler, r *rand.Rand, n int) []Task {
	out := make([]Task, n)
	for i := range out {
		out[i] = s.Sample(r)
	}
	return out
}

// Sine is the sinusoid regression task family of MAML (Finn et al. 2017,
// §5.1): y = A·sin(x - φ) with amplitude A ~ U[0.1, 5], phase φ ~ U[0, π]
// and inputs x ~ U[-5, 5]. Support and query sets are [K, 1] tensors.
type Sine struct {
	K      int          // support points (shots), e.g. 5 or 10
	KQuery int          // query points; 0 means K
	DType  tensor.DType // zero value: Float32 (tensor.Float32 is 0)
}

// Sine task bounds (the MAML paper's).
const (
	SineAmpMin, SineAmpMax     = 0.1, 5.0
	SinePhaseMin, SinePhaseMax = 0.0, math.Pi
	SineXMin, SineXMax         = -5.0, 5.0
)

// SineTask returns the task of amplitude amp and phase phase with support
// and query inputs drawn from r.
func (s Sine) SineTask(r *rand.Rand, amp, phase float64) Task {
	if s.K <= 0 {
		panic(&tensor.Error{Op: "meta.Sine", Msg: fmt.Sprintf("K = %d shots", s.K)})
	}
	kq := s.KQuery
	if kq <= 0 {
		kq = s.K
	}
	dt := s.DType
	draw := func(n int) (*tensor.Tensor, *tensor.Tensor) {
		x, y := make([]float64, n), make([]float64, n)
		for i := range x {
			x[i] = SineXMin + (SineXMax-SineXMin)*r.Float64()
			y[i] = amp * math.Sin(x[i]-phase)
		}
		return tensor.FromSlice(x, n, 1).Cast(dt), tensor.FromSlice(y, n, 1).Cast(dt)
	}
	t := Task{Info: map[string]float64{"amplitude": amp, "phase": phase}}
	t.XS, t.YS = draw(s.K)
	t.XQ, t.YQ = draw(kq)
	return t
}

// Sample draws a sine task.
func (s Sine) Sample(r *rand.Rand) Task {
	amp := SineAmpMin + (SineAmpMax-SineAmpMin)*r.Float64()
	phase := SinePhaseMin + (SinePhaseMax-SinePhaseMin)*r.Float64()
	return s.SineTask(r, amp, phase)
}

// SineCurve returns y = amp·sin(x - phase) at the points xs.
func SineCurve(amp, phase float64, xs []float64) []float64 {
	ys := make([]float64, len(xs))
	for i, x := range xs {
		ys[i] = amp * math.Sin(x-phase)
	}
	return ys
}

// Episodes draws N-way K-shot classification episodes from a labelled
// image set restricted to a pool of classes: each episode picks N classes
// of the pool, assigns them the labels 0..N-1 in random order, and takes K
// support and Q query images of each (without overlap). Inputs have shape
// [n, 1, H, W] (Flat: [n, H·W]).
type Episodes struct {
	N, K, Q int
	Flat    bool
	DType   tensor.DType // zero value: Float32 (tensor.Float32 is 0)
	shape   []int        // sample shape [H, W]
	byClass map[int64][][]float32
	classes []int64
}

// NewEpisodes returns an N-way K-shot sampler over the samples of ds whose
// label is in classes, with Q query images per class. Each class needs at
// least K+Q samples.
func NewEpisodes(ds *data.ArrayDataset, classes []int64, n, k, q int) (*Episodes, error) {
	if n <= 0 || k <= 0 || q <= 0 || n > len(classes) {
		return nil, fmt.Errorf("meta: %d-way %d-shot %d-query episodes from %d classes", n, k, q, len(classes))
	}
	e := &Episodes{N: n, K: k, Q: q, shape: ds.SampleShape(), byClass: map[int64][][]float32{}, classes: slices.Clone(classes)}
	want := map[int64]bool{}
	for _, c := range classes {
		want[c] = true
	}
	x := make([]float32, ds.SampleSize())
	for i := range ds.Len() {
		y := ds.Sample(i, x)
		if want[y] {
			e.byClass[y] = append(e.byClass[y], slices.Clone(x))
		}
	}
	for _, c := range classes {
		if len(e.byClass[c]) < k+q {
			return nil, fmt.Errorf("meta: class %d has %d samples, an episode needs %d", c, len(e.byClass[c]), k+q)
		}
	}
	return e, nil
}

// Rotated returns ds with every sample also rotated by 90, 180 and 270
// degrees, each rotation a class of its own (label 10·r + y for rotation
// r = 0..3 of class y), as Omniglot's meta-training set is augmented
// (Santoro et al. 2016). Samples must be square images [S, S].
func Rotated(ds *data.ArrayDataset, classes int) *data.ArrayDataset {
	s := ds.Shape
	if len(s) != 2 || s[0] != s[1] {
		panic(&tensor.Error{Op: "meta.Rotated", Msg: fmt.Sprintf("sample shape %v, want [S, S]", s)})
	}
	n := s[0]
	out := &data.ArrayDataset{Shape: slices.Clone(s)}
	x := make([]float32, n*n)
	for i := range ds.Len() {
		y := ds.Sample(i, x)
		img := slices.Clone(x)
		for r := range 4 {
			out.X = append(out.X, img...)
			out.Y = append(out.Y, int64(r*classes)+y)
			rot := make([]float32, n*n)
			for a := range n {
				for b := range n {
					rot[b*n+(n-1-a)] = img[a*n+b] // 90° clockwise
				}
			}
			img = rot
		}
	}
	return out
}

// DigitsEpisodes returns N-way K-shot samplers over the embedded digits
// (data.Digits) for meta-training and meta-testing, with the classes split:
// trainClasses for meta-training, the other digits for meta-testing.
func DigitsEpisodes(trainClasses []int64, n, k, q int) (train, test *Episodes, err error) {
	ds := data.Digits()
	var testClasses []int64
	for c := range int64(data.DigitsClasses) {
		if !slices.Contains(trainClasses, c) {
			testClasses = append(testClasses, c)
		}
	}
	if train, err = NewEpisodes(ds, trainClasses, n, k, q); err != nil {
		return nil, nil, err
	}
	if test, err = NewEpisodes(ds, testClasses, n, k, q); err != nil {
		return nil, nil, err
	}
	return train, test, nil
}

// Classes returns the class pool of the sampler.
func (e *Episodes) Classes() []int64 { return slices.Clone(e.classes) }

// Sample draws an episode.
func (e *Episodes) Sample(r *rand.Rand) Task {
	pick := r.Perm(len(e.classes))[:e.N]
	per := 1
	for _, d := range e.shape {
		per *= d
	}
	xs := make([]float32, 0, e.N*e.K*per)
	xq := make([]float32, 0, e.N*e.Q*per)
	var ys, yq []int64
	for label, ci := range pick {
		imgs := e.byClass[e.classes[ci]]
		order := r.Perm(len(imgs))
		for j, idx := range order[:e.K+e.Q] {
			if j < e.K {
				xs = append(xs, imgs[idx]...)
				ys = append(ys, int64(label))
			} else {
				xq = append(xq, imgs[idx]...)
				yq = append(yq, int64(label))
			}
		}
	}
	dt := e.DType
	shape := func(n int) []int {
		if e.Flat {
			return []int{n, per}
		}
		return append([]int{n, 1}, e.shape...)
	}
	return Task{
		XS: tensor.FromSlice(xs, shape(len(ys))...).Cast(dt), YS: tensor.FromSlice(ys, len(ys)),
		XQ: tensor.FromSlice(xq, shape(len(yq))...).Cast(dt), YQ: tensor.FromSlice(yq, len(yq)),
	}
}
