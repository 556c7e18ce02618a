package main

import (
	"math"

	"github.com/tessera-ml/tessera/automl/hpo"
)

// objective is a benchmark function with its known minimum: suggest asks
// the trial for the parameters (the sampler works there), f computes the
// value (timed as the objective).
type objective struct {
	name    string
	min     float64
	suggest func(t *hpo.Trial) []any
	f       func(p []any) float64
}

func branin(x, y float64) float64 {
	b, c := 5.1/(4*math.Pi*math.Pi), 5/math.Pi
	return (y-b*x*x+c*x-6)*(y-b*x*x+c*x-6) + 10*(1-1/(8*math.Pi))*math.Cos(x) + 10
}

var (
	hAlpha = [4]float64{1.0, 1.2, 3.0, 3.2}
	hA     = [4][6]float64{{10, 3, 17, 3.5, 1.7, 8}, {0.05, 10, 17, 0.1, 8, 14}, {3, 3.5, 1.7, 10, 17, 8}, {17, 8, 0.05, 10, 0.1, 14}}
	hP     = [4][6]float64{{1312, 1696, 5569, 124, 8283, 5886}, {2329, 4135, 8307, 3736, 1004, 9991},
		{2348, 1451, 3522, 2883, 3047, 6650}, {4047, 8828, 8732, 5743, 1091, 381}}
)

func hartmann6(x [6]float64) float64 {
	s := 0.0
	for i := range 4 {
		e := 0.0
		for j := range 6 {
			d := x[j] - hP[i][j]*1e-4
			e += hA[i][j] * d * d
		}
		s += hAlpha[i] * math.Exp(-e)
	}
	return -s
}

func mixed(x, y float64, c string) float64 {
	f := (x-1)*(x-1) + (math.Log10(y)+2)*(math.Log10(y)+2)
	if c != "b" {
		f++
	}
	return f
}

var objectives = []objective{
	{"branin", 0.397887,
		func(t *hpo.Trial) []any { return []any{t.SuggestFloat("x", -5, 10), t.SuggestFloat("y", 0, 15)} },
		func(p []any) float64 { return branin(p[0].(float64), p[1].(float64)) }},
	{"hartmann6", -3.32237,
		func(t *hpo.Trial) []any {
			p := make([]any, 6)
			for j := range p {
				p[j] = t.SuggestFloat("x"+string(rune('0'+j)), 0, 1)
			}
			return p
		},
		func(p []any) float64 {
			var x [6]float64
			for j := range x {
				x[j] = p[j].(float64)
			}
			return hartmann6(x)
		}},
	{"mixed", 0,
		func(t *hpo.Trial) []any {
			return []any{t.SuggestFloat("x", -5, 5), t.SuggestFloat("y", 1e-4, 1, hpo.Log()), t.SuggestCategorical("c", []string{"a", "b", "c"})}
		},
		func(p []any) float64 { return mixed(p[0].(float64), p[1].(float64), p[2].(string)) }},
}
