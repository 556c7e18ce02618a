package nas

import (
	"context"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"time"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// DARTSConfig configures a DARTS search (Liu et al. 2019).
type DARTSConfig struct {
	Nodes    int // intermediate nodes per cell
	Channels int
	Cells    int
	Epochs   int
	Batch    int
	// Weights: SGD with momentum, cosine-annealed; WLR is also the ξ of the
	// second-order (unrolled) approximation.
	WLR, WMomentum, WWeightDecay float64
	// Architecture weights α: Adam.
	AlphaLR, AlphaWeightDecay float64
	// SecondOrder uses the unrolled approximation with the finite-difference
	// Hessian-vector product; otherwise the first-order one (ξ = 0).
	SecondOrder bool
	Seed        uint64
	Progress    io.Writer // one line per epoch; nil prints nothing
}

// CurvePoint is the state of a search after an epoch or trial.
type CurvePoint struct {
	Step     int     // epoch (DARTS) or trial (evolution), from 1
	Seconds  float64 // since the search started
	ValAcc   float64 // validation accuracy: the supernet's (DARTS) or the trial's
	BestAcc  float64 // best validation accuracy so far (evolution)
	Genotype Genotype
}

// SearchResult is the outcome of a search.
type SearchResult struct {
	Genotype Genotype
	Alpha    *tensor.Tensor // DARTS only
	Curve    []CurvePoint
	Seconds  float64
	Trials   int // evolution only
}

func lossOn(net nn.Module, params []*autograd.Var, x, y *tensor.Tensor) *autograd.Var {
	return nn.CrossEntropy(nn.WithParamList(net, params).Forward(autograd.Constant(x)), y)
}

// HyperGradient returns DARTS's gradient of the validation loss with
// respect to the supernet's α at the weights w = nn.Params(net):
//
//	first order (xi = 0): ∇α L_val(w, α)
//	second order:         ∇α L_val(w', α) - ξ·(∇α L_train(w⁺, α) - ∇α L_train(w⁻, α)) / 2ε
//
// with w' = w - ξ∇w L_train(w, α), w± = w ± ε∇w' L_val(w', α) and
// ε = r/‖∇w' L_val(w', α)‖ (the paper's eq. 7 and 8 with r = 0.01, which
// r ≤ 0 selects). net is not
// changed (the evaluations at w', w⁺ and w⁻ run on functional views; a
// BatchNorm's running statistics do move).
func HyperGradient(net *Network, xt, yt, xv, yv *tensor.Tensor, xi, r float64) (*tensor.Tensor, error) {
	if r <= 0 {
		r = 0.01
	}
	alpha := net.Alpha
	w := nn.Params(net)
	if xi == 0 {
		g, err := autograd.Grad([]*autograd.Var{lossOn(net, w, xv, yv)}, []*autograd.Var{alpha}, nil, autograd.BackwardOpts{})
		if err != nil {
			return nil, err
		}
		return g[0].Value(), nil
	}
	gw, err := autograd.Grad([]*autograd.Var{lossOn(net, w, xt, yt)}, w, nil, autograd.BackwardOpts{})
	if err != nil {
		return nil, err
	}
	wp := make([]*autograd.Var, len(w))
	for i := range w {
		wp[i] = autograd.Param(tensor.Sub(w[i].Value(), tensor.MulScalar(gw[i].Value(), xi)))
	}
	g, err := autograd.Grad([]*autograd.Var{lossOn(net, wp, xv, yv)}, append([]*autograd.Var{alpha}, wp...), nil, autograd.BackwardOpts{})
	if err != nil {
		return nil, err
	}
	dAlpha, dw := g[0].Value(), g[1:]
	var norm float64
	for _, d := range dw {
		norm += tensor.Sum(tensor.Square(d.Value().Cast(tensor.Float64)), false).Item()
	}
	norm = math.Sqrt(norm)
	if norm == 0 {
		return dAlpha, nil
	}
	eps := r / norm
	at := func(sign float64) (*tensor.Tensor, error) {
		ws := make([]*autograd.Var, len(w))
		for i := range w {
			ws[i] = autograd.Constant(tensor.Add(w[i].Value(), tensor.MulScalar(dw[i].Value(), sign*eps)))
		}
		g, err := autograd.Grad([]*autograd.Var{lossOn(net, ws, xt, yt)}, []*autograd.Var{alpha}, nil, autograd.BackwardOpts{})
		if err != nil {
			return nil, err
		}
		return g[0].Value(), nil
	}
	gp, err := at(1)
	if err != nil {
		return nil, err
	}
	gm, err := at(-1)
	if err != nil {
		return nil, err
	}
	hess := tensor.MulScalar(tensor.Sub(gp, gm), 1/(2*eps))
	return tensor.Sub(dAlpha, tensor.MulScalar(hess, xi)), nil
}

// DARTS searches a cell on train (weights) and val (architecture) and
// returns the derived genotype, α and the search curve (the supernet's
// validation accuracy and the derived cell after each epoch).
func DARTS(ctx context.Context, train, val Data, classes int, cfg DARTSConfig) (SearchResult, error) {
	var res SearchResult
	if cfg.Nodes <= 0 || cfg.Channels <= 0 || cfg.Cells <= 0 || cfg.Epochs <= 0 || cfg.Batch <= 0 {
		return res, fmt.Errorf("nas: DARTS: bad configuration %+v", cfg)
	}
	start := time.Now()
	g := tensor.NewGenerator(cfg.Seed)
	net := NewSuperNet(g, cfg.Nodes, cfg.Channels, cfg.Cells, classes, nn.WithDType(train.X.DType()))
	wopt := optim.NewSGD(nn.Params(net), optim.Options{LR: cfg.WLR, Momentum: cfg.WMomentum, WeightDecay: cfg.WWeightDecay})
	nb := (train.Len() + cfg.Batch - 1) / cfg.Batch
	sched := optim.NewScheduler(wopt, optim.Cosine{Steps: cfg.Epochs * nb})
	aopt := optim.NewAdam([]*autograd.Var{net.Alpha}, optim.Options{LR: cfg.AlphaLR, Beta1: 0.5, Beta2: 0.999, WeightDecay: cfg.AlphaWeightDecay})
	r := rand.New(rand.NewPCG(cfg.Seed, 17))
	for epoch := range cfg.Epochs {
		tb, vb := batches(r, train.Len(), cfg.Batch), batches(r, val.Len(), cfg.Batch)
		var lossSum float64
		for i, idx := range tb {
			if err := ctx.Err(); err != nil {
				return res, err
			}
			xt, yt := train.batch(idx)
			xv, yv := val.batch(vb[i%len(vb)])
			// Architecture step.
			xi := 0.0
			if cfg.SecondOrder {
				xi = wopt.Groups()[0].LR
			}
			ga, err := HyperGradient(net, xt, yt, xv, yv, xi, 0)
			if err != nil {
				return res, err
			}
			net.Alpha.SetGrad(ga)
			if err := aopt.Step(); err != nil {
				return res, err
			}
			// Weight step.
			wopt.ZeroGrad()
			loss := nn.CrossEntropy(net.Forward(autograd.Constant(xt)), yt)
			if err := loss.Backward(); err != nil {
				return res, err
			}
			net.Alpha.SetGrad(nil)
			optim.ClipGradNorm(nn.Params(net), 5)
			if err := wopt.Step(); err != nil {
				return res, err
			}
			sched.Step()
			lossSum += loss.Item()
		}
		geno := Derive(net.Alpha.Value(), cfg.Nodes)
		acc := Accuracy(net, val)
		res.Curve = append(res.Curve, CurvePoint{Step: epoch + 1, Seconds: time.Since(start).Seconds(), ValAcc: acc, Genotype: geno})
		if cfg.Progress != nil {
			fmt.Fprintf(cfg.Progress, "darts epoch %2d/%d  train loss %.3f  supernet val acc %.3f  %5.1fs  %v\n",
				epoch+1, cfg.Epochs, lossSum/float64(len(tb)), acc, time.Since(start).Seconds(), geno)
		}
	}
	res.Genotype = Derive(net.Alpha.Value(), cfg.Nodes)
	res.Alpha = net.Alpha.Value().Clone()
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}
