package idxtrain

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/tessera-ml/tessera/checkpoint"
	"github.com/tessera-ml/tessera/data"
	"github.com/tessera-ml/tessera/examples/internal/fit"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// Config is a run's settings.
type Config struct {
	Data   string // directory with train-images-idx3-ubyte[.gz], ... (see data.LoadMNISTDir)
	Epochs int
	Batch  int
	LR     float64
	Seed   uint64
	Device string
	Limit  int // use at most this many training samples (0: all)
	// Checkpoint, if set, is saved after every epoch (atomically), and a run
	// that finds it resumes from it.
	Checkpoint string
	Progress   io.Writer
}

// Model builds the network; image samples have shape [1, rows, cols] when
// Channels is true, else [rows*cols].
type Model struct {
	Name     string
	Channels bool
	New      func(g *tensor.Generator, rows, cols, classes int, dev tensor.Device) nn.Module
}

// Result is fit.Result plus what the run did.
type Result struct {
	fit.Result
	Resumed bool // started from a checkpoint
	Train   int  // training samples
	Test    int  // test samples
}

// load reads one split and returns it with samples shaped for the model,
// and the image size.
func load(dir string, train bool, channels bool, limit int) (ds *data.ArrayDataset, rows, cols int, err error) {
	ds, err = data.LoadMNISTDir(dir, train)
	if err != nil {
		return nil, 0, 0, err
	}
	if limit > 0 && limit < ds.Len() {
		idx := make([]int, limit)
		for i := range idx {
			idx[i] = i
		}
		ds = ds.Subset(idx)
	}
	sh := ds.SampleShape()
	if len(sh) != 2 {
		return nil, 0, 0, fmt.Errorf("%s: images have shape %v, want [rows cols]", dir, sh)
	}
	if channels {
		ds, err = ds.WithShape(1, sh[0], sh[1])
	} else {
		ds, err = ds.WithShape(sh[0] * sh[1])
	}
	return ds, sh[0], sh[1], err
}

// Train loads the data, builds the model and trains it with Adam.
func Train(m Model, cfg Config) (Result, error) {
	var res Result
	if cfg.Epochs <= 0 || cfg.Batch <= 0 || !(cfg.LR > 0) {
		return res, errors.New("need -epochs > 0, -batch > 0 and -lr > 0")
	}
	dev, err := tensor.GetDevice(cfg.Device)
	if err != nil {
		return res, err
	}
	train, rows, cols, err := load(cfg.Data, true, m.Channels, cfg.Limit)
	if err != nil {
		return res, err
	}
	test, r2, c2, err := load(cfg.Data, false, m.Channels, 0)
	if err != nil {
		return res, err
	}
	if r2 != rows || c2 != cols {
		return res, fmt.Errorf("training images are %dx%d, test images %dx%d", rows, cols, r2, c2)
	}
	res.Train, res.Test = train.Len(), test.Len()
	const classes = 10
	model := m.New(tensor.NewGenerator(cfg.Seed), rows, cols, classes, dev)
	opt := optim.NewAdam(nn.Params(model), optim.Options{LR: cfg.LR})
	first, prevSteps := 0, 0
	if cfg.Checkpoint != "" {
		c, err := checkpoint.Load(cfg.Checkpoint)
		switch {
		case err == nil:
			if err := c.Restore(model.StateDict(), opt); err != nil {
				return res, err
			}
			first, prevSteps = c.Meta.Epoch, c.Meta.Step
			res.Resumed = true
		case errors.Is(err, fs.ErrNotExist):
		default:
			return res, err
		}
	}
	fcfg := fit.Config{
		Model: model, Opt: opt, Train: train, Test: test,
		Batch: cfg.Batch, Epochs: cfg.Epochs, FirstEpoch: first, Seed: cfg.Seed, Device: dev,
		Progress: cfg.Progress,
	}
	if cfg.Checkpoint != "" {
		fcfg.OnEpoch = func(epoch int, r *fit.Result) error {
			return checkpoint.Save(cfg.Checkpoint, model.StateDict(), opt,
				checkpoint.Meta{Step: prevSteps + r.Steps, Epoch: epoch + 1, Extra: map[string]string{"model": m.Name}})
		}
	}
	r, err := fit.Run(fcfg)
	res.Result = r
	return res, err
}

// Main parses the flags, trains m and prints the result; it exits non-zero
// on error.
func Main(m Model, defaults Config) {
	cfg := defaults
	flag.StringVar(&cfg.Data, "data", defaults.Data, "directory of the MNIST/Fashion-MNIST IDX files (raw or .gz)")
	flag.IntVar(&cfg.Epochs, "epochs", defaults.Epochs, "training epochs")
	flag.IntVar(&cfg.Batch, "batch", defaults.Batch, "batch size")
	flag.Float64Var(&cfg.LR, "lr", defaults.LR, "Adam learning rate")
	flag.Uint64Var(&cfg.Seed, "seed", defaults.Seed, "random seed")
	flag.StringVar(&cfg.Device, "device", defaults.Device, "device: cpu, or cuda when available")
	flag.IntVar(&cfg.Limit, "limit", 0, "use at most this many training samples (0: all)")
	flag.StringVar(&cfg.Checkpoint, "checkpoint", "", "save a checkpoint here after every epoch, and resume from it if it exists")
	asJSON := flag.Bool("json", false, "print one final JSON line; progress goes to stderr")
	flag.Parse()
	cfg.Progress = os.Stdout
	if *asJSON {
		cfg.Progress = os.Stderr
	}
	res, err := Train(m, cfg)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: %v\n", m.Name, err)
		os.Exit(1)
	}
	if *asJSON {
		b, _ := json.Marshal(map[string]any{"test_accuracy": res.TestAccuracy, "seconds": res.Seconds, "steps": res.Steps})
		fmt.Println(string(b))
		return
	}
	fmt.Printf("test accuracy %.4f on %d images after %d steps in %.1f s\n", res.TestAccuracy, res.Test, res.Steps, res.Seconds)
}
