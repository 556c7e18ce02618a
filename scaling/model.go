package scaling

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// CostModel is the α-β-γ model of one synchronous data-parallel training
// step on p ranks: every rank computes forward and backward on its b samples
// (Compute), the gradients (GradBytes in all) are combined with Algorithm
// over Link, and the optimizer updates.
//
// The gradients are combined bucket by bucket (BucketBytes, in the order
// backward completes them; empty: one bucket of GradBytes). Backward is
// taken to produce gradient bytes at a steady rate, so bucket i is ready
// after the fraction (its end in bytes)/GradBytes of the backward pass; the
// collectives run one after another (as DDP issues them), each starting when
// its bucket is ready and the previous one is done. With Overlap they start
// during backward; without, all after it:
//
//	step = forward + max(backward, end of the last collective) + optimizer
//
// CommScale multiplies every collective's time (1 when zero): the share of
// the link or of the memory bus a collective gets when it runs beside
// computation on the same cores.
//
// Compute is a typical rank's. On p > 1 ranks a synchronous step waits for
// the slowest: forward and backward are stretched by SyncFactor(p), the
// expected maximum of p draws of the per-rank arrival distribution in
// Straggler (empty: the ranks arrive together).
//
// ServerLink, when set (non-zero α or β), is the central parameter server's
// own traffic (Algorithm CentralPS): the point-to-point link the workers'
// sends and receives use (α, β of a send-receive, which need not be those
// of the collective algorithms in Link) and γ of the server's own addition
// of the gradients (parallel/strategy's central-ps adds them with tensor
// kernels, not with the backend's reduction). The server carries the
// (p−1) transfers each way one after another (AllReduceCost).
//
// Cores and Threads (per rank) say whether overlap can happen at all. The
// collectives of the CPU backends (in-process goroutines: copies and
// reductions; MPI shared memory: copies by the processes) need a core: with
// Cores set, during backward they progress only at OverlapShare(p) of their
// full speed, the share of the cores that backward leaves idle, and at full
// speed once backward is done. With no free core the collectives in effect
// start after backward, as without Overlap; Cores = 0 means a dedicated
// communication engine (a GPU's copy engines and NCCL, a NIC's offload): the
// collectives run at full speed beside backward.
//
// CopyBytes are the bytes a strategy copies per step outside the collectives
// and the backward pass (flat gradient or parameter vectors, fusion
// buffers), on the step's critical path; CopySecPerByte is the time of such
// a copy per byte (a measured memory copy). The copies add
// CopyBytes·CopySecPerByte to the step, one after the other with the rest.
type CostModel struct {
	Compute     Compute
	Link        Link
	Algorithm   Algorithm
	GradBytes   float64
	BucketBytes []float64
	Overlap     bool
	CommScale   float64
	Straggler   []float64
	ServerLink  Link

	Cores, Threads int

	CopyBytes      float64
	CopySecPerByte float64
}

// OverlapShare is the share of a collective's full speed it gets while p
// ranks run backward: 1 with a dedicated communication engine (Cores == 0),
// otherwise the cores that the p ranks' Threads threads each leave idle,
//
//	max(0, 1 − p·Threads/Cores)   (Threads < 1 counts as 1).
func (m CostModel) OverlapShare(p int) float64 {
	if m.Cores <= 0 {
		return 1
	}
	return math.Max(0, 1-float64(p*max(1, m.Threads))/float64(m.Cores))
}

// Breakdown is a predicted step, in seconds.
type Breakdown struct {
	Forward, Backward, Optimizer float64
	Comm                         float64 // all collectives, back to back
	Exposed                      float64 // communication not hidden by backward
	// Straggle is the part of Forward + Backward spent waiting for the
	// slowest rank: (SyncFactor(p) − 1)·(a typical rank's forward + backward).
	Straggle float64
	// Copy is the strategy's copies outside the collectives:
	// CopyBytes·CopySecPerByte.
	Copy  float64
	Total float64
}

// CommTime is the time of the step's collectives on p ranks, back to back.
func (m CostModel) CommTime(p int) float64 {
	t := 0.0
	for _, b := range m.buckets() {
		t += m.collective(p, b)
	}
	return t
}

func (m CostModel) buckets() []float64 {
	if len(m.BucketBytes) == 0 {
		return []float64{m.GradBytes}
	}
	return m.BucketBytes
}

func (m CostModel) collective(p int, bytes float64) float64 {
	s := m.CommScale
	if s == 0 {
		s = 1
	}
	l := m.Link
	if m.Algorithm == CentralPS && (m.ServerLink.Alpha != 0 || m.ServerLink.Beta != 0) {
		l = m.ServerLink
	}
	return s * AllReduceCost(m.Algorithm, p, bytes).Time(l)
}

// Step predicts one step on p ranks with b samples per rank. It panics on
// p < 1 or b < 1.
func (m CostModel) Step(p, b int) Breakdown {
	if p < 1 || b < 1 {
		panic(tensor.Errorf("scaling.CostModel.Step", "%d ranks, batch %d", p, b))
	}
	fb := m.Compute.Fixed + m.Compute.PerSample*float64(b)
	f := m.SyncFactor(p)
	straggle := (f - 1) * fb
	fb *= f
	bd := Breakdown{
		Straggle:  straggle,
		Forward:   fb * (1 - m.Compute.BackwardShare),
		Backward:  fb * m.Compute.BackwardShare,
		Optimizer: m.Compute.Optimizer,
	}
	end := bd.Backward
	if p > 1 {
		bs := m.buckets()
		total := 0.0
		for _, x := range bs {
			total += x
		}
		share := m.OverlapShare(p)
		done, cum := 0.0, 0.0
		for _, x := range bs {
			cum += x
			ready := bd.Backward
			if m.Overlap && total > 0 {
				ready = bd.Backward * cum / total
			}
			c := m.collective(p, x)
			bd.Comm += c
			done = finish(math.Max(done, ready), c, bd.Backward, share)
		}
		end = math.Max(end, done)
	}
	bd.Exposed = end - bd.Backward
	bd.Copy = m.CopyBytes * m.CopySecPerByte
	bd.Total = bd.Forward + end + bd.Copy + bd.Optimizer
	return bd
}

// finish is when a collective of c seconds (at full speed) that starts at
// start ends, if it runs at share of its speed until backward ends at bwd
// and at full speed after.
func finish(start, c, bwd, share float64) float64 {
	if start >= bwd {
		return start + c
	}
	if share <= 0 {
		return bwd + c
	}
	during := (bwd - start) * share
	if c <= during {
		return start + c/share
	}
	return bwd + c - during
}

// SpeedUpStrong is strong scaling: the global batch stays at global samples
// per step, split over p ranks (global/p each, at least 1); it returns the
// speed-up over one rank (T₁/T_p) and the efficiency (speed-up / p).
func (m CostModel) SpeedUpStrong(p, global int) (speedUp, efficiency float64) {
	s := m.Step(1, global).Total / m.Step(p, max(1, global/p)).Total
	return s, s / float64(p)
}

// SpeedUpWeak is weak scaling: every rank keeps b samples per step, so p
// ranks process p·b; it returns the throughput over one rank's
// (p·T₁/T_p) and the efficiency (T₁/T_p).
func (m CostModel) SpeedUpWeak(p, b int) (speedUp, efficiency float64) {
	e := m.Step(1, b).Total / m.Step(p, b).Total
	return float64(p) * e, e
}

// Oversubscription is how much slower each of ranks ranks computes when
// they run threads threads each on cores cores of one machine: max(1,
// ranks·threads/cores).
func Oversubscription(ranks, threads, cores int) float64 {
	return math.Max(1, float64(ranks*threads)/float64(cores))
}
