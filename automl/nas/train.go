package nas

import (
	"context"
	"fmt"
	"math/rand/v2"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Data is an image classification set as tensors: X [n, 1, H, W], Y [n]
// Int64.
type Data struct {
	X, Y *tensor.Tensor
}

// FromDataset converts an ArrayDataset of [H, W] samples.
func FromDataset(ds *data.ArrayDataset, dt tensor.DType) Data {
	x, y := ds.Tensors()
	s := x.Shape()
	return Data{X: x.Reshape(s[0], 1, s[1], s[2]).Cast(dt), Y: y}
}

// Len is the number of samples.
func (d Data) Len() int { return d.Y.Dim(0) }

// Split returns the first n samples of a seeded shuffle and the rest.
func (d Data) Split(seed uint64, n int) (Data, Data) {
	perm := data.Permutation(seed, d.Len())
	pick := func(idx []int) Data {
		t := make([]int64, len(idx))
		for i, v := range idx {
			t[i] = int64(v)
		}
		it := tensor.FromSlice(t, len(t))
		return Data{X: tensor.IndexSelect(d.X, 0, it), Y: tensor.IndexSelect(d.Y, 0, it)}
	}
	return pick(perm[:n]), pick(perm[n:])
}

// batches returns shuffled index batches of size b (the last may be short).
func batches(r *rand.Rand, n, b int) []*tensor.Tensor {
	perm := r.Perm(n)
	var out []*tensor.Tensor
	for lo := 0; lo < n; lo += b {
		hi := min(n, lo+b)
		idx := make([]int64, hi-lo)
		for i := range idx {
			idx[i] = int64(perm[lo+i])
		}
		out = append(out, tensor.FromSlice(idx, len(idx)))
	}
	return out
}

func (d Data) batch(idx *tensor.Tensor) (*tensor.Tensor, *tensor.Tensor) {
	return tensor.IndexSelect(d.X, 0, idx), tensor.IndexSelect(d.Y, 0, idx)
}

// Accuracy is the classification accuracy of net on d (evaluation mode).
func Accuracy(net nn.Module, d Data) float64 {
	was := net.Training()
	net.Train(false)
	defer net.Train(was)
	var correct float64
	autograd.NoGrad(func() {
		for lo := 0; lo < d.Len(); lo += 256 {
			hi := min(d.Len(), lo+256)
			x, y := d.X.Slice(0, lo, hi, 1), d.Y.Slice(0, lo, hi, 1)
			pred := tensor.ArgMax(net.Forward(autograd.Constant(x)).Value(), -1, false)
			correct += tensor.Sum(tensor.Eq(pred, y), false).Item()
		}
	})
	return correct / float64(d.Len())
}

// TrainConfig configures the training of a discrete network.
type TrainConfig struct {
	Epochs int
	Batch  int
	LR     float64 // Adam, cosine-annealed to 0 over the run
	Seed   uint64  // batch order
}

// Train trains net on train with Adam and a cosine schedule and returns the
// mean loss of the last epoch.
func Train(ctx context.Context, net nn.Module, train Data, cfg TrainConfig) (float64, error) {
	if cfg.Epochs <= 0 || cfg.Batch <= 0 || cfg.LR <= 0 {
		return 0, fmt.Errorf("nas: Train: %d epochs of batch %d at rate %g", cfg.Epochs, cfg.Batch, cfg.LR)
	}
	opt := optim.NewAdam(nn.Params(net), optim.Options{LR: cfg.LR})
	nb := (train.Len() + cfg.Batch - 1) / cfg.Batch
	sched := optim.NewScheduler(opt, optim.Cosine{Steps: cfg.Epochs * nb})
	r := rand.New(rand.NewPCG(cfg.Seed, 31))
	net.Train(true)
	var last float64
	for range cfg.Epochs {
		var sum float64
		for _, idx := range batches(r, train.Len(), cfg.Batch) {
			if err := ctx.Err(); err != nil {
				return 0, err
			}
			x, y := train.batch(idx)
			opt.ZeroGrad()
			loss := nn.CrossEntropy(net.Forward(autograd.Constant(x)), y)
			if err := loss.Backward(); err != nil {
				return 0, err
			}
			if err := opt.Step(); err != nil {
				return 0, err
			}
			sched.Step()
			sum += loss.Item()
		}
		last = sum / float64(nb)
	}
	return last, nil
}

func withDType(d Data) nn.Option { return nn.WithDType(d.X.DType()) }

func numParams(m nn.Module) int { return nn.NumParams(m) }
