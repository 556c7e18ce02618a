package hpo

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"sync"

	"github.com/tessera-ml/tessera/checkpoint"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

// PBTMember is one member of a population-based-training population: a
// model in training whose hyperparameters PBT changes between rounds.
type PBTMember interface {
	// Train trains steps more steps with hyperparameters hp and returns the
	// member's score afterwards.
	Train(ctx context.Context, hp map[string]float64, steps int) (float64, error)
	// State returns the live tensors to checkpoint and restore in place
	// (e.g. nn.StateDict of the model) and the optimizer (nil if none or
	// stateless). A nil map means the member cannot be checkpointed: no one
	// will ever exploit it.
	State() (map[string]*tensor.Tensor, *optim.Optimizer)
}

// PBTOptions configure population based training.
type PBTOptions struct {
	Population int // members (>= 2)
	Rounds     int // rounds of training then exploit/explore
	Interval   int // training steps per round (the perturbation interval)
	// Space lists the hyperparameters and their ranges (Float or Int;
	// Categorical ones are only resampled); the first round samples them
	// uniformly.
	Space     map[string]Distribution
	Direction Direction // of the score
	// Quantile is the fraction of members in the bottom group that exploit
	// and in the top group that they copy (0.25).
	Quantile float64
	// ResampleProbability is the chance that explore resamples a value
	// from Space instead of perturbing it (0.25).
	ResampleProbability float64
	// Perturb are the factors explore multiplies by, one chosen at random
	// ({1.2, 0.8}).
	Perturb []float64
	Dir     string // checkpoint directory (required)
	Seed    uint64
	Workers int // goroutines training members (1)
	// NewMember builds member i.
	NewMember func(i int) PBTMember
	Progress  io.Writer // a line per round; nil prints nothing
}

// PBTRecord is one member's round.
type PBTRecord struct {
	HP    map[string]float64 // hyperparameters it trained with
	Score float64
	// From is the member it copied after the round (−1: none); Refused
	// counts donors skipped because they had no checkpoint.
	From    int
	Refused int
}

// PBTResult is what RunPBT returns.
type PBTResult struct {
	Rounds    [][]PBTRecord // [round][member]
	Best      int           // member with the best final score
	BestScore float64
	Exploits  int
	Refusals  int // exploit attempts refused for a missing checkpoint
}

// ErrNoCheckpoint is the reason PBT refuses to exploit a member.
var ErrNoCheckpoint = errors.New("hpo: member has no checkpoint")

// RunPBT runs population based training (Jaderberg et al., 2017): every
// member trains Interval steps, is checkpointed (package checkpoint, with
// its hyperparameters in the metadata), and members in the bottom
// Quantile exploit — restore the weights and optimizer state of a random
// member of the top Quantile and take its hyperparameters — then explore —
// perturb each hyperparameter by a factor from Perturb, or resample it.
// A donor without a checkpoint of its current round is refused (never
// copied: its weights would not match its score) and another top member is
// tried.
func RunPBT(ctx context.Context, o PBTOptions) (PBTResult, error) {
	if o.Population < 2 || o.Rounds < 1 || o.Interval < 1 || o.NewMember == nil || o.Dir == "" {
		return PBTResult{}, fmt.Errorf("hpo.RunPBT: need Population >= 2, Rounds >= 1, Interval >= 1, NewMember and Dir")
	}
	if o.Quantile <= 0 || o.Quantile > 0.5 {
		o.Quantile = 0.25
	}
	if o.ResampleProbability == 0 {
		o.ResampleProbability = 0.25
	}
	if len(o.Perturb) == 0 {
		o.Perturb = []float64{1.2, 0.8}
	}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return PBTResult{}, err
	}
	r := rand.New(rand.NewPCG(o.Seed, 0x5eed))
	names := slices.Sorted(maps.Keys(o.Space))
	members := make([]PBTMember, o.Population)
	hps := make([]map[string]float64, o.Population)
	for i := range members {
		members[i] = o.NewMember(i)
		hps[i] = map[string]float64{}
		for _, n := range names {
			hps[i][n] = sampleUniform(r, o.Space[n])
		}
	}
	var res PBTResult
	scores := make([]float64, o.Population)
	ckpt := func(i int) string { return filepath.Join(o.Dir, fmt.Sprintf("member-%d.safetensors", i)) }
	for round := range o.Rounds {
		// Train.
		errs := make([]error, o.Population)
		var wg sync.WaitGroup
		next := make(chan int)
		for range max(o.Workers, 1) {
			wg.Go(func() {
				for i := range next {
					scores[i], errs[i] = members[i].Train(ctx, hps[i], o.Interval)
				}
			})
		}
		for i := range members {
			next <- i
		}
		close(next)
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			return res, err
		}
		recs := make([]PBTRecord, o.Population)
		has := make([]bool, o.Population)
		for i, m := range members {
			recs[i] = PBTRecord{HP: maps.Clone(hps[i]), Score: scores[i], From: -1}
			model, opt := m.State()
			_ = os.Remove(ckpt(i))
			if model == nil {
				continue
			}
			hpJSON, _ := json.Marshal(hps[i])
			meta := checkpoint.Meta{Step: (round + 1) * o.Interval, Extra: map[string]string{"pbt.hp": string(hpJSON), "pbt.round": fmt.Sprint(round)}}
			if err := checkpoint.Save(ckpt(i), model, opt, meta); err != nil {
				return res, err
			}
			has[i] = true
		}
		if round == o.Rounds-1 {
			res.Rounds = append(res.Rounds, recs)
			break
		}
		// Exploit and explore.
		order := make([]int, o.Population)
		for i := range order {
			order[i] = i
		}
		sign := o.Direction.sign()
		sort.SliceStable(order, func(a, b int) bool { return sign*scores[order[a]] < sign*scores[order[b]] })
		q := max(1, int(math.Round(o.Quantile*float64(o.Population))))
		top, bottom := order[:q], order[o.Population-q:]
		for _, i := range bottom {
			if own, _ := members[i].State(); own == nil {
				continue // nothing to restore into
			}
			cands := slices.Clone(top)
			r.Shuffle(len(cands), func(a, b int) { cands[a], cands[b] = cands[b], cands[a] })
			for _, d := range cands {
				if err := exploit(members[i], ckpt(d), has[d], round); err != nil {
					if errors.Is(err, ErrNoCheckpoint) {
						recs[i].Refused++
						res.Refusals++
						continue
					}
					return res, err
				}
				recs[i].From = d
				res.Exploits++
				hps[i] = maps.Clone(hps[d])
				for _, n := range names {
					d := o.Space[n]
					if d.Kind == Categorical || r.Float64() < o.ResampleProbability {
						hps[i][n] = sampleUniform(r, d)
						continue
					}
					v := hps[i][n] * o.Perturb[r.IntN(len(o.Perturb))]
					hps[i][n] = d.snap(v)
				}
				break
			}
		}
		res.Rounds = append(res.Rounds, recs)
		if o.Progress != nil {
			fmt.Fprintf(o.Progress, "pbt round %d/%d: best %.5g (member %d), exploits %d, refused %d\n",
				round+1, o.Rounds, scores[order[0]], order[0], res.Exploits, res.Refusals)
		}
	}
	res.Best = 0
	for i := range scores {
		if o.Direction.better(scores[i], scores[res.Best]) {
			res.Best = i
		}
	}
	res.BestScore = scores[res.Best]
	return res, nil
}

// exploit restores member m from the donor's checkpoint file, refusing
// (ErrNoCheckpoint) when the donor has none for this round.
func exploit(m PBTMember, path string, has bool, round int) error {
	if !has {
		return ErrNoCheckpoint
	}
	if _, err := os.Stat(path); err != nil {
		return fmt.Errorf("%w: %v", ErrNoCheckpoint, err)
	}
	c, err := checkpoint.Load(path)
	if err != nil {
		return err
	}
	if c.Meta.Extra["pbt.round"] != fmt.Sprint(round) {
		return fmt.Errorf("%w: %s is from round %s, not %d", ErrNoCheckpoint, path, c.Meta.Extra["pbt.round"], round)
	}
	model, opt := m.State()
	if model == nil {
		return fmt.Errorf("hpo: a member without state cannot exploit")
	}
	return c.Restore(model, opt)
}
