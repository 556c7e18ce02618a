package robust

import (
	"fmt"
	"strconv"
	"strings"
)

// Rules lists the rule names ByName accepts.
var Rules = []string{"mean", "median", "trimmedmean", "krum", "multikrum", "bulyan", "geomed", "cclip"}

// Options are the settings ByName gives the rules that have any.
type Options struct {
	Tau        float64 // CenteredClipping's τ; 0 means 1
	CCIters    int     // CenteredClipping's L; 0 means 1
	MultiKrumM int     // Multi-Krum's M; 0 means n−f
	Seed       uint64  // Bucketing's shuffle seed
}

// ByName builds the aggregator named name for n workers of which f are
// Byzantine. name is a rule from Rules, optionally preceded by
// pre-aggregation steps joined with "+": "nnm+krum", "bucket2+median"
// ("bucketS" with S the bucket size).
func ByName(name string, n, f int, o Options) (Aggregator, error) {
	parts := strings.Split(name, "+")
	var pre []PreAggregator
	for _, p := range parts[:len(parts)-1] {
		switch {
		case p == "nnm":
			pre = append(pre, NNM{F: f})
		case strings.HasPrefix(p, "bucket"):
			s, err := strconv.Atoi(strings.TrimPrefix(p, "bucket"))
			if err != nil || s < 1 {
				return nil, fmt.Errorf("robust: bad bucketing step %q (want bucketS, S ≥ 1)", p)
			}
			pre = append(pre, &Bucketing{S: s, Seed: o.Seed})
		default:
			return nil, fmt.Errorf("robust: unknown pre-aggregation step %q (nnm, bucketS)", p)
		}
	}
	var rule Aggregator
	switch r := parts[len(parts)-1]; r {
	case "mean":
		rule = Mean{}
	case "median":
		rule = Median{F: f}
	case "trimmedmean":
		rule = TrimmedMean{F: f}
	case "krum":
		rule = Krum{F: f}
	case "multikrum":
		m := o.MultiKrumM
		if m <= 0 {
			m = n - f
		}
		rule = Krum{F: f, M: m}
	case "bulyan":
		rule = Bulyan{F: f}
	case "geomed":
		rule = GeoMed{F: f}
	case "cclip":
		tau := o.Tau
		if tau <= 0 {
			tau = 1
		}
		rule = &CenteredClipping{F: f, Tau: tau, Iters: o.CCIters}
	default:
		return nil, fmt.Errorf("robust: unknown rule %q (%s)", r, strings.Join(Rules, ", "))
	}
	if len(pre) == 0 {
		return rule, nil
	}
	return Pipeline{Pre: pre, Rule: rule}, nil
}
