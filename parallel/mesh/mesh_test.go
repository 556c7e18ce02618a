package mesh_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/collectives/local"
	"github.com/tessera-ml/tessera/parallel/mesh"
	"github.com/tessera-ml/tessera/tensor"
)

func TestShapesAreEveryFactorisation(t *testing.T) {
	assert.Len(t, mesh.Shapes(1), 1)
	assert.Len(t, mesh.Shapes(8), 10) // ordered triples with product 2^3: C(5,2)
	assert.Len(t, mesh.Shapes(6), 9)
	seen := map[mesh.Shape]bool{}
	for _, s := range mesh.Shapes(12) {
		assert.Equal(t, 12, s.Size())
		assert.False(t, seen[s])
		seen[s] = true
	}
	assert.Len(t, seen, 18)
}

func TestCoordRoundTripTensorFastest(t *testing.T) {
	s := mesh.Shape{Data: 2, Pipe: 3, Tensor: 4}
	for r := range s.Size() {
		assert.Equal(t, r, s.Rank(s.Coord(r)))
	}
	assert.Equal(t, mesh.Coord{Data: 0, Pipe: 0, Tensor: 1}, s.Coord(1))
	assert.Equal(t, mesh.Coord{Data: 0, Pipe: 1, Tensor: 0}, s.Coord(4))
	assert.Equal(t, mesh.Coord{Data: 1, Pipe: 0, Tensor: 0}, s.Coord(12))
}

// members returns the world ranks of c's group, in c's rank order.
func members(ctx context.Context, t *testing.T, c collectives.Comm, world int) []float64 {
	if c == nil {
		return nil
	}
	src := tensor.FromSlice([]float64{float64(world)}, 1)
	dst := tensor.Zeros(tensor.Float64, c.Size())
	require.NoError(t, c.AllGather(ctx, dst, src))
	return dst.Float64s()
}

// TestGroupsOn2x2x2: every sub-communicator holds exactly the ranks that
// differ in its coordinate, ranked by it; tensor groups are neighbours.
func TestGroupsOn2x2x2(t *testing.T) {
	s := mesh.Shape{Data: 2, Pipe: 2, Tensor: 2}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, local.Run(ctx, 8, func(ctx context.Context, w collectives.Comm) error {
		m, err := mesh.New(ctx, w, s)
		require.NoError(t, err)
		defer m.Close()
		r, c := w.Rank(), m.Coord
		base := r - c.Tensor
		assert.Equal(t, []float64{float64(base), float64(base + 1)}, members(ctx, t, m.Tensor, r))
		assert.Equal(t, []float64{float64(s.Rank(mesh.Coord{Data: c.Data, Pipe: 0, Tensor: c.Tensor})), float64(s.Rank(mesh.Coord{Data: c.Data, Pipe: 1, Tensor: c.Tensor}))}, members(ctx, t, m.Pipe, r))
		assert.Equal(t, []float64{float64(r % 4), float64(r%4 + 4)}, members(ctx, t, m.Data, r))
		assert.Equal(t, m.Pipe.Size(), m.Ends.Size()) // with 2 stages both are ends
		assert.Equal(t, c.Pipe, m.Pipe.Rank())
		assert.Equal(t, c.Pipe == 0, m.FirstStage())
		assert.Equal(t, c.Pipe == 1, m.LastStage())
		return nil
	}))
}

func TestEndsOnThreeStagesAndBadShape(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	require.NoError(t, local.Run(ctx, 3, func(ctx context.Context, w collectives.Comm) error {
		_, err := mesh.New(ctx, w, mesh.Shape{Data: 2, Pipe: 1, Tensor: 1})
		require.Error(t, err)
		m, err := mesh.New(ctx, w, mesh.Shape{Data: 1, Pipe: 3, Tensor: 1})
		require.NoError(t, err)
		defer m.Close()
		if w.Rank() == 1 {
			assert.Nil(t, m.Ends)
		} else {
			assert.Equal(t, []float64{0, 2}, members(ctx, t, m.Ends, w.Rank()))
		}
		return nil
	}))
}
