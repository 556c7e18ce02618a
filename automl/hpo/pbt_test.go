package hpo

import (
	"context"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// noisyQuad is SGD on L(θ) = ½‖θ‖² with Gaussian gradient noise of
// standard deviation sigma. Its optimal learning-rate schedule is known to
// decay (≈ 1/t once the noise dominates): a large rate first to move fast,
// a small one later to average the noise out. Any fixed rate trades one
// against the other.
type noisyQuad struct {
	theta *tensor.Tensor
	r     *rand.Rand
	sigma float64
	noCk  bool // no checkpoint (State returns nil)
}

const quadDim, quadStart, quadSigma = 10, 3.0, 1.0

func newNoisyQuad(seed uint64) *noisyQuad {
	th := make([]float64, quadDim)
	for i := range th {
		th[i] = quadStart
	}
	return &noisyQuad{theta: tensor.FromSlice(th, quadDim), r: rand.New(rand.NewPCG(seed, 7)), sigma: quadSigma}
}

func (q *noisyQuad) loss() float64 {
	s := 0.0
	for _, v := range q.theta.Float64s() {
		s += v * v / 2
	}
	return s
}

func (q *noisyQuad) Train(_ context.Context, hp map[string]float64, steps int) (float64, error) {
	th := q.theta.Float64s()
	lr := hp["lr"]
	for range steps {
		for i := range th {
			th[i] -= lr * (th[i] + q.sigma*q.r.NormFloat64())
		}
	}
	q.theta.CopyFrom(tensor.FromSlice(th, quadDim))
	return q.loss(), nil
}

func (q *noisyQuad) State() (map[string]*tensor.Tensor, *optim.Optimizer) {
	if q.noCk {
		return nil, nil
	}
	return map[string]*tensor.Tensor{"theta": q.theta}, nil
}

const pbtRounds, pbtInterval, pbtPop = 25, 8, 8

func runPBT(t *testing.T, seed uint64, noCk func(i int) bool) (PBTResult, []*noisyQuad) {
	var ms []*noisyQuad
	res, err := RunPBT(context.Background(), PBTOptions{
		Population: pbtPop, Rounds: pbtRounds, Interval: pbtInterval,
		Space: map[string]Distribution{"lr": {Kind: Float, Low: 1e-3, High: 1, Log: true}},
		Dir:   fastDir(t), Seed: seed, Workers: 2,
		NewMember: func(i int) PBTMember {
			m := newNoisyQuad(seed*100 + uint64(i))
			m.noCk = noCk != nil && noCk(i)
			ms = append(ms, m)
			return m
		},
	})
	require.NoError(t, err)
	return res, ms
}

// PBT on the noisy quadratic finds a decaying schedule and ends below the
// best fixed learning rate given the same number of steps.
func TestPBTBeatsBestFixedLR(t *testing.T) {
	steps := pbtRounds * pbtInterval
	bestFixed := math.Inf(1)
	bestLR := 0.0
	for k := range 40 {
		lr := math.Pow(10, -3+3*float64(k)/39)
		var ls []float64
		for seed := range uint64(5) {
			q := newNoisyQuad(1000 + seed)
			l, _ := q.Train(context.Background(), map[string]float64{"lr": lr}, steps)
			ls = append(ls, l)
		}
		slices.Sort(ls)
		if ls[2] < bestFixed {
			bestFixed, bestLR = ls[2], lr
		}
	}
	var pbt []float64
	for seed := range uint64(3) {
		res, _ := runPBT(t, seed+1, nil)
		pbt = append(pbt, res.BestScore)
		assert.Positive(t, res.Exploits)
		assert.Zero(t, res.Refusals)
		// The schedule PBT found decays: the best member's last rate is
		// well below its rate in the first quarter of the rounds.
		first := res.Rounds[pbtRounds/4][res.Best].HP["lr"]
		last := res.Rounds[pbtRounds-1][res.Best].HP["lr"]
		t.Logf("seed %d: PBT best loss %.4f, lr round %d %.4f -> last %.4f", seed+1, res.BestScore, pbtRounds/4, first, last)
	}
	slices.Sort(pbt)
	t.Logf("best fixed lr %.4f: median loss %.4f; PBT median %.4f", bestLR, bestFixed, pbt[1])
	assert.Less(t, pbt[1], bestFixed)
}

func TestPBTRefusesMembersWithoutCheckpoint(t *testing.T) {
	// Members 0 and 1 start at the optimum, so they stay on top, but they
	// cannot be checkpointed: the members below must not copy them.
	var ms []*noisyQuad
	res, err := RunPBT(context.Background(), PBTOptions{
		Population: 8, Rounds: 4, Interval: 4,
		Space: map[string]Distribution{"lr": {Kind: Float, Low: 1e-3, High: 1, Log: true}},
		Dir:   t.TempDir(), Seed: 3,
		NewMember: func(i int) PBTMember {
			m := newNoisyQuad(uint64(i))
			if i < 2 {
				m.noCk, m.sigma = true, 0
				m.theta.CopyFrom(tensor.Full(0, tensor.Float64, quadDim))
			}
			ms = append(ms, m)
			return m
		},
	})
	require.NoError(t, err)
	assert.Zero(t, res.Exploits)
	assert.Equal(t, 3*2*2, res.Refusals, "3 exploit rounds x 2 bottom members x 2 refused donors")
	for _, recs := range res.Rounds {
		for _, rec := range recs {
			assert.Equal(t, -1, rec.From)
		}
	}
	// The explicit check, too: a missing file is refused.
	q := newNoisyQuad(1)
	assert.ErrorIs(t, exploit(q, filepath.Join(t.TempDir(), "none.safetensors"), true, 0), ErrNoCheckpoint)
	assert.ErrorIs(t, exploit(q, "", false, 0), ErrNoCheckpoint)
}

// fastDir is a temporary directory in memory when /dev/shm exists (the
// checkpoints' fsyncs then cost nothing), else on disk.
func fastDir(t *testing.T) string {
	if d, err := os.MkdirTemp("/dev/shm", "hpo-pbt-"); err == nil {
		t.Cleanup(func() { _ = os.RemoveAll(d) })
		return d
	}
	return t.TempDir()
}
