package hpo

import (
	"fmt"
	"math"
	"slices"

	"github.com/tessera-ml/tessera/tensor"
)

// Kind is the kind of a search-space dimension.
type Kind int

// The kinds of Distribution.
const (
	Float Kind = iota
	Int
	Categorical
)

func (k Kind) String() string {
	switch k {
	case Float:
		return "float"
	case Int:
		return "int"
	case Categorical:
		return "categorical"
	}
	return fmt.Sprintf("Kind(%d)", int(k))
}

// Distribution is one dimension of a search space. Values travel through
// samplers and storage in an internal float64 form: the value itself for
// Float and Int, the index of the choice for Categorical.
type Distribution struct {
	Kind    Kind     `json:"kind"`
	Low     float64  `json:"low,omitempty"`  // inclusive bounds (Float, Int)
	High    float64  `json:"high,omitempty"` // inclusive upper bound
	Log     bool     `json:"log,omitempty"`  // sample uniformly in log space
	Step    float64  `json:"step,omitempty"` // > 0: values are Low + k·Step (Int: default 1)
	Choices []string `json:"choices,omitempty"`
}

// Equal reports whether d and o describe the same dimension.
func (d Distribution) Equal(o Distribution) bool {
	return d.Kind == o.Kind && d.Low == o.Low && d.High == o.High && d.Log == o.Log &&
		d.Step == o.Step && slices.Equal(d.Choices, o.Choices)
}

// Contains reports whether the internal value v is a point of d.
func (d Distribution) Contains(v float64) bool {
	switch d.Kind {
	case Categorical:
		return v == math.Trunc(v) && v >= 0 && int(v) < len(d.Choices)
	default:
		if !(v >= d.Low && v <= d.High) {
			return false
		}
		if d.Step > 0 {
			k := (v - d.Low) / d.Step
			return math.Abs(k-math.Round(k)) < 1e-8
		}
		return true
	}
}

// Single reports whether d has a single point.
func (d Distribution) Single() bool {
	if d.Kind == Categorical {
		return len(d.Choices) == 1
	}
	return d.Low == d.High
}

// External turns an internal value into the user's value: float64, int or
// string.
func (d Distribution) External(v float64) any {
	switch d.Kind {
	case Int:
		return int(math.Round(v))
	case Categorical:
		i := int(v)
		if i < 0 || i >= len(d.Choices) {
			return ""
		}
		return d.Choices[i]
	}
	return v
}

// Internal turns a user's value (as External returns it, or a JSON-decoded
// number) into the internal form; ok is false if it is not a point of d.
func (d Distribution) Internal(x any) (float64, bool) {
	var v float64
	switch d.Kind {
	case Categorical:
		s, isStr := x.(string)
		if !isStr {
			return 0, false
		}
		i := slices.Index(d.Choices, s)
		if i < 0 {
			return 0, false
		}
		return float64(i), true
	}
	switch y := x.(type) {
	case float64:
		v = y
	case float32:
		v = float64(y)
	case int:
		v = float64(y)
	case int64:
		v = float64(y)
	default:
		return 0, false
	}
	return v, d.Contains(v)
}

// snap rounds a value drawn in [Low, High] onto d's grid (Step, Int) and
// clamps it into range.
func (d Distribution) snap(v float64) float64 {
	if d.Kind == Categorical {
		return math.Max(0, math.Min(math.Round(v), float64(len(d.Choices)-1)))
	}
	if d.Step > 0 {
		v = d.Low + math.Round((v-d.Low)/d.Step)*d.Step
		top := d.Low + math.Floor((d.High-d.Low)/d.Step+1e-9)*d.Step
		v = math.Min(v, top)
	}
	return math.Max(d.Low, math.Min(v, d.High))
}

// validate panics with a *tensor.Error naming op when d is not a valid
// dimension (a programming error).
func (d Distribution) validate(op, name string) {
	bad := func(msg string, args ...any) {
		panic(&tensor.Error{Op: op, Msg: fmt.Sprintf("parameter %q: ", name) + fmt.Sprintf(msg, args...)})
	}
	switch d.Kind {
	case Categorical:
		if len(d.Choices) == 0 {
			bad("no choices")
		}
	case Float, Int:
		if math.IsNaN(d.Low) || math.IsNaN(d.High) || d.Low > d.High {
			bad("low %v > high %v", d.Low, d.High)
		}
		if d.Log && d.Low <= 0 {
			bad("log scale needs low > 0, got %v", d.Low)
		}
		if d.Log && d.Step > 0 && d.Kind == Float {
			bad("log and step cannot be combined")
		}
		if d.Step < 0 {
			bad("step %v < 0", d.Step)
		}
	default:
		bad("unknown kind %v", d.Kind)
	}
}

// SuggestOption modifies a numeric suggestion.
type SuggestOption func(*Distribution)

// Log samples the value uniformly in log space (low must be > 0).
func Log() SuggestOption { return func(d *Distribution) { d.Log = true } }

// Step restricts the value to low + k·step.
func Step(step float64) SuggestOption { return func(d *Distribution) { d.Step = step } }
