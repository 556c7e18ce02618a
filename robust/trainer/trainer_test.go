package trainer

import (
	"context"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/robust"
	"github.com/tessera-ml/tessera/robust/attack"
)

// tiny is a seconds-long configuration: 6 workers, a 32-wide MLP, 80 steps.
func tiny(rule string, f int, a attack.Attack) Config {
	return Config{N: 6, F: f, Rule: rule, Attack: a, Hidden: 32, Steps: 80, Batch: 16, Seed: 3, RuleOpts: robust.Options{Tau: 0.3}}
}

func train(t *testing.T, cfg Config) Result {
	t.Helper()
	res, err := Train(context.Background(), cfg)
	require.NoError(t, err)
	return res
}

// TestRobustTraining: the mean learns without attackers and is wrecked by
// IPM with a large ε; the median and centered clipping keep learning.
func TestRobustTraining(t *testing.T) {
	clean := train(t, tiny("mean", 0, nil))
	require.Greater(t, clean.Accuracy, 0.7)
	require.Len(t, clean.Curve, 10)
	assert.Equal(t, 80, clean.CurveStep[len(clean.CurveStep)-1])
	assert.Equal(t, 64*32+32+32*10+10, clean.Params)
	assert.Greater(t, clean.Spread, 0.0)
	assert.Less(t, clean.Spread, 10.0)

	broken := train(t, tiny("mean", 1, attack.IPM{Eps: 20}))
	assert.Less(t, broken.Accuracy, 0.5, "IPM eps=20 reverses the mean")
	for _, rule := range []string{"median", "cclip"} {
		r := train(t, tiny(rule, 1, attack.IPM{Eps: 20}))
		assert.Greater(t, r.Accuracy, 0.8*clean.Accuracy, rule)
	}
}

func TestLabelFlipAndNonIID(t *testing.T) {
	r := train(t, tiny("trimmedmean", 1, attack.LabelFlip{}))
	assert.Greater(t, r.Accuracy, 0.6)
	assert.Equal(t, "labelflip", r.Attack)
	assert.Equal(t, "trimmedmean", r.RuleName)
	// Dirichlet(0.5) shards slow the same run down (at this tiny scale the
	// no-attack mean drops from about 0.75 to under 0.5).
	iid := train(t, tiny("mean", 0, nil))
	cfg := tiny("mean", 0, nil)
	cfg.Alpha = 0.5
	skew := train(t, cfg)
	assert.Less(t, skew.Accuracy, iid.Accuracy-0.1)
}

// TestMomentumOff: Momentum < 0 survives the defaults applied by both
// Train and RunRank (a run without momentum differs from one with it).
func TestMomentumOff(t *testing.T) {
	cfg := tiny("mean", 0, nil)
	require.NoError(t, cfg.defaults())
	require.NoError(t, cfg.defaults())
	assert.Equal(t, 0.9, cfg.beta())
	off := tiny("mean", 0, nil)
	off.Momentum = -1
	require.NoError(t, off.defaults())
	require.NoError(t, off.defaults())
	assert.Equal(t, 0.0, off.beta())
	a, b := train(t, tiny("mean", 0, nil)), train(t, off)
	assert.NotEqual(t, a.Curve, b.Curve)
}

// TestPrecondition: a rule that cannot run at n, f fails the run with an
// error wrapping robust.ErrTooFew, on every rank, without hanging.
func TestPrecondition(t *testing.T) {
	_, err := Train(context.Background(), tiny("krum", 2, attack.SignFlip{}))
	require.Error(t, err)
	assert.True(t, ErrPrecondition(err), "%v", err)
}

// TestRunRankSize: RunRank checks the communicator against cfg.N.
func TestRunRankSize(t *testing.T) {
	err := local.Run(context.Background(), 3, func(ctx context.Context, c collectives.Comm) error {
		_, err := RunRank(ctx, c, tiny("mean", 0, nil))
		return err
	})
	assert.Error(t, err)
}
