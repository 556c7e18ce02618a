package fit

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Config describes a training run.
type Config struct {
	Model  nn.Module
	Opt    *optim.Optimizer
	Sched  *optim.Scheduler // stepped after every batch; may be nil
	Train  data.Dataset
	Test   data.Dataset // evaluated after training; may be nil
	Batch  int
	Epochs int
	Seed   uint64        // shuffle seed
	Device tensor.Device // nil: CPU
	// Progress receives one \r-updated line per epoch; nil prints nothing.
	Progress io.Writer
	// Context may cancel the run; nil means context.Background().
	Context context.Context
	// FirstEpoch is the number of epochs already done (when resuming): the
	// run trains epochs FirstEpoch..Epochs-1 with their shuffles.
	FirstEpoch int
	// OnEpoch, if set, is called after each epoch (e.g. to save a
	// checkpoint) with the epoch's number; an error stops the run.
	OnEpoch func(epoch int, res *Result) error
}

// Result summarises a run.
type Result struct {
	EpochLoss     []float64 // mean training loss of each epoch
	EpochAccuracy []float64 // training accuracy of each epoch
	TestAccuracy  float64
	Seconds       float64 // wall time of the training epochs
	Steps         int     // optimizer steps
}

// Run trains cfg.Model and evaluates it on cfg.Test.
func Run(cfg Config) (Result, error) {
	var res Result
	ctx := cfg.Context
	if ctx == nil {
		ctx = context.Background()
	}
	dev := cfg.Device
	if dev == nil {
		dev = tensor.CPU
	}
	loader, err := data.NewLoader(cfg.Train, data.LoaderOptions{BatchSize: cfg.Batch, Shuffle: true, Seed: cfg.Seed, Prefetch: 2, Device: dev})
	if err != nil {
		return res, err
	}
	n := loader.NumSamples()
	total := n * (cfg.Epochs - cfg.FirstEpoch)
	start := time.Now()
	for epoch := cfg.FirstEpoch; epoch < cfg.Epochs; epoch++ {
		cfg.Model.Train(true)
		it := loader.Epoch(ctx, epoch)
		var lossSum, correct float64
		seen := 0
		epochStart := time.Now()
		lastPrint := time.Time{}
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			cfg.Opt.ZeroGrad()
			logits := cfg.Model.Forward(autograd.Constant(b.X))
			loss := nn.CrossEntropy(logits, b.Y)
			if err := loss.Backward(); err != nil {
				it.Close()
				return res, err
			}
			if err := cfg.Opt.Step(); err != nil {
				it.Close()
				return res, err
			}
			if cfg.Sched != nil {
				cfg.Sched.Step()
			}
			res.Steps++
			bs := b.X.Dim(0)
			lossSum += loss.Item() * float64(bs)
			correct += countCorrect(logits.Value(), b.Y)
			seen += bs
			if cfg.Progress != nil && (time.Since(lastPrint) > 100*time.Millisecond || seen == n) {
				lastPrint = time.Now()
				printProgress(cfg.Progress, epoch, cfg.Epochs, seen, n, lossSum/float64(seen), correct/float64(seen),
					time.Since(epochStart), time.Since(start), (epoch-cfg.FirstEpoch)*n+seen, total)
			}
		}
		it.Close()
		if err := it.Err(); err != nil {
			return res, err
		}
		if seen == 0 {
			return res, fmt.Errorf("fit: epoch %d had no batches", epoch)
		}
		res.EpochLoss = append(res.EpochLoss, lossSum/float64(seen))
		res.EpochAccuracy = append(res.EpochAccuracy, correct/float64(seen))
		if cfg.Progress != nil {
			fmt.Fprintln(cfg.Progress)
		}
		if cfg.OnEpoch != nil {
			if err := cfg.OnEpoch(epoch, &res); err != nil {
				return res, err
			}
		}
	}
	res.Seconds = time.Since(start).Seconds()
	if cfg.Test != nil {
		acc, err := Evaluate(cfg.Model, cfg.Test, cfg.Batch, dev)
		if err != nil {
			return res, err
		}
		res.TestAccuracy = acc
	}
	return res, nil
}

func countCorrect(logits, y *tensor.Tensor) float64 {
	pred := tensor.ArgMax(logits, -1, false)
	return tensor.Sum(tensor.Eq(pred, y), false).Item()
}

// Evaluate returns the classification accuracy of model on ds (evaluation
// mode, no gradients).
func Evaluate(model nn.Module, ds data.Dataset, batch int, dev tensor.Device) (float64, error) {
	loader, err := data.NewLoader(ds, data.LoaderOptions{BatchSize: batch, Device: dev})
	if err != nil {
		return 0, err
	}
	was := model.Training()
	model.Train(false)
	defer model.Train(was)
	it := loader.Epoch(context.Background(), 0)
	defer it.Close()
	var correct float64
	seen := 0
	autograd.NoGrad(func() {
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			logits := model.Forward(autograd.Constant(b.X))
			correct += countCorrect(logits.Value(), b.Y)
			seen += b.X.Dim(0)
		}
	})
	if err := it.Err(); err != nil {
		return 0, err
	}
	if seen == 0 {
		return 0, fmt.Errorf("fit: empty evaluation set")
	}
	return correct / float64(seen), nil
}

func printProgress(w io.Writer, epoch, epochs, seen, n int, loss, acc float64, epochTime, runTime time.Duration, done, total int) {
	const width = 24
	fill := width * seen / max(n, 1)
	bar := strings.Repeat("=", fill) + strings.Repeat(" ", width-fill)
	if fill < width {
		bar = strings.Repeat("=", fill) + ">" + strings.Repeat(" ", width-fill-1)
	}
	rate := float64(seen) / max(epochTime.Seconds(), 1e-9)
	overall := float64(done) / max(runTime.Seconds(), 1e-9)
	eta := time.Duration(float64(total-done) / max(overall, 1e-9) * float64(time.Second))
	d := len(fmt.Sprint(epochs))
	fmt.Fprintf(w, "\repoch %*d/%d [%s] %5d/%d  loss %.4f  acc %.4f  %7.0f samples/s  ETA %s   ",
		d, epoch+1, epochs, bar, seen, n, loss, acc, rate, eta.Round(100*time.Millisecond))
}
