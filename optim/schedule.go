package optim

import (
	"math"

	"github.com/tessera-ml/tessera/tensor"
)

// A Schedule gives the learning rate at a step (0-based: the rate used for
// the first update is LR(0, base)) as a function of the group's base rate.
type Schedule interface {
	LR(step int, base float64) float64
}

// Constant keeps the base rate.
type Constant struct{}

// LR returns base.
func (Constant) LR(step int, base float64) float64 { return base }

// StepDecay multiplies the rate by Gamma every StepSize steps, as
// torch.optim.lr_scheduler.StepLR: base·Gamma^⌊step/StepSize⌋.
type StepDecay struct {
	StepSize int
	Gamma    float64
}

// LR implements Schedule.
func (s StepDecay) LR(step int, base float64) float64 {
	if s.StepSize <= 0 {
		panic(tensor.Errorf("optim.StepDecay", "StepSize must be > 0"))
	}
	if !(s.Gamma >= 0) || math.IsInf(s.Gamma, 0) {
		panic(tensor.Errorf("optim.StepDecay", "Gamma = %v must be finite and >= 0", s.Gamma))
	}
	return base * math.Pow(s.Gamma, float64(step/s.StepSize))
}

// Cosine anneals the rate from base to MinLR over Steps steps, as
// torch.optim.lr_scheduler.CosineAnnealingLR:
// MinLR + (base-MinLR)·(1+cos(π·step/Steps))/2, and MinLR after Steps.
type Cosine struct {
	Steps int
	MinLR float64
}

// LR implements Schedule.
func (s Cosine) LR(step int, base float64) float64 {
	if s.Steps <= 0 {
		panic(tensor.Errorf("optim.Cosine", "Steps must be > 0"))
	}
	if !(s.MinLR >= 0) || math.IsInf(s.MinLR, 0) {
		panic(tensor.Errorf("optim.Cosine", "MinLR = %v must be finite and >= 0", s.MinLR))
	}
	if step >= s.Steps {
		return s.MinLR
	}
	return s.MinLR + (base-s.MinLR)*(1+math.Cos(math.Pi*float64(step)/float64(s.Steps)))/2
}

// Warmup raises the rate linearly from StartFactor·base to base over Steps
// steps, as torch.optim.lr_scheduler.LinearLR
// (base·(StartFactor + (1-StartFactor)·step/Steps)), then follows Then
// (nil: the constant base) with its step counted from the end of the
// warm-up, as SequentialLR composes them.
type Warmup struct {
	Steps       int
	StartFactor float64
	Then        Schedule
}

// LR implements Schedule.
func (s Warmup) LR(step int, base float64) float64 {
	if s.Steps < 0 || !(s.StartFactor >= 0 && s.StartFactor <= 1) {
		panic(tensor.Errorf("optim.Warmup", "Steps = %d and StartFactor = %v; want Steps >= 0 and StartFactor in [0, 1]", s.Steps, s.StartFactor))
	}
	if step < s.Steps {
		return base * (s.StartFactor + (1-s.StartFactor)*float64(step)/float64(s.Steps))
	}
	if s.Then == nil {
		return base
	}
	return s.Then.LR(step-s.Steps, base)
}

// OneCycle is the 1cycle policy of torch.optim.lr_scheduler.OneCycleLR
// (two phases, cosine annealing) with the group's base rate as the maximum:
// from base/DivFactor up to base over the first PctStart of Steps steps,
// then down to base/(DivFactor·FinalDivFactor) at step Steps-1. Zero
// PctStart, DivFactor and FinalDivFactor take torch's defaults 0.3, 25 and
// 1e4. Linear anneals linearly instead of by cosine. (Momentum is not
// cycled.)
type OneCycle struct {
	Steps                               int
	PctStart, DivFactor, FinalDivFactor float64
	Linear                              bool
}

// LR implements Schedule.
func (s OneCycle) LR(step int, base float64) float64 {
	pct, div, fdiv := s.PctStart, s.DivFactor, s.FinalDivFactor
	if pct == 0 {
		pct = 0.3
	}
	if div == 0 {
		div = 25
	}
	if fdiv == 0 {
		fdiv = 1e4
	}
	if s.Steps < 2 {
		panic(tensor.Errorf("optim.OneCycle", "Steps must be >= 2"))
	}
	if !(pct > 0 && pct < 1) || !(div > 0) || !(fdiv > 0) || math.IsInf(div, 0) || math.IsInf(fdiv, 0) {
		panic(tensor.Errorf("optim.OneCycle", "PctStart = %v, DivFactor = %v, FinalDivFactor = %v; want PctStart in (0, 1) and finite factors > 0", pct, div, fdiv))
	}
	initial := base / div
	final := initial / fdiv
	end1 := pct*float64(s.Steps) - 1
	end2 := float64(s.Steps) - 1
	anneal := func(a, b, p float64) float64 {
		if s.Linear {
			return (b-a)*p + a
		}
		return b + (a-b)/2*(math.Cos(math.Pi*p)+1)
	}
	t := math.Min(float64(step), end2)
	if t <= end1 {
		return anneal(initial, base, t/end1)
	}
	return anneal(base, final, (t-end1)/(end2-end1))
}

// Func adapts a function to Schedule.
type Func func(step int, base float64) float64

// LR implements Schedule.
func (f Func) LR(step int, base float64) float64 { return f(step, base) }

// Scheduler applies a Schedule to every group of an optimizer: each group's
// LR becomes Schedule.LR(step, group.InitialLR). Call Step after each
// optimizer step.
type Scheduler struct {
	opt   *Optimizer
	sched Schedule
	step  int
}

// NewScheduler returns a scheduler at step 0 and sets the groups' rates for
// that step.
func NewScheduler(opt *Optimizer, s Schedule) *Scheduler {
	if opt == nil || s == nil {
		panic(tensor.Errorf("optim.NewScheduler", "nil optimizer or schedule"))
	}
	sc := &Scheduler{opt: opt, sched: s}
	sc.apply()
	return sc
}

func (s *Scheduler) apply() {
	for i, g := range s.opt.groups {
		lr := s.sched.LR(s.step, g.InitialLR)
		if math.IsNaN(lr) || lr < 0 {
			panic(tensor.Errorf("optim.Scheduler", "schedule gave rate %v for group %d at step %d", lr, i, s.step))
		}
		g.LR = lr
	}
}

// Step advances the schedule by one step and sets the groups' rates.
func (s *Scheduler) Step() {
	s.step++
	s.apply()
}

// StepNum returns the current step.
func (s *Scheduler) StepNum() int { return s.step }

// SetStep moves the schedule to step n (to resume from a checkpoint) and
// sets the groups' rates.
func (s *Scheduler) SetStep(n int) {
	if n < 0 {
		panic(tensor.Errorf("optim.Scheduler.SetStep", "negative step"))
	}
	s.step = n
	s.apply()
}

// LR returns the current rate of group 0.
func (s *Scheduler) LR() float64 {
	if len(s.opt.groups) == 0 {
		return 0
	}
	return s.opt.groups[0].LR
}
