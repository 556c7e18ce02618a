package mesh

import (
	"context"
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/collectives"
)

// Shape is the degree of each dimension of the grid.
type Shape struct {
	Data, Pipe, Tensor int
}

// Size is the number of ranks of the grid.
func (s Shape) Size() int { return s.Data * s.Pipe * s.Tensor }

func (s Shape) String() string { return fmt.Sprintf("%dx%dx%d", s.Data, s.Pipe, s.Tensor) }

// Coord is a rank's position in the grid.
type Coord struct {
	Data, Pipe, Tensor int
}

// Rank returns the world rank at c.
func (s Shape) Rank(c Coord) int { return (c.Data*s.Pipe+c.Pipe)*s.Tensor + c.Tensor }

// Coord returns the coordinates of world rank r.
func (s Shape) Coord(r int) Coord {
	return Coord{Data: r / (s.Pipe * s.Tensor), Pipe: r / s.Tensor % s.Pipe, Tensor: r % s.Tensor}
}

// Shapes returns every grid of n ranks (every ordered factorisation
// n = data·pipe·tensor), data-major.
func Shapes(n int) []Shape {
	var out []Shape
	for d := 1; d <= n; d++ {
		for p := 1; d*p <= n; p++ {
			if n%(d*p) == 0 {
				out = append(out, Shape{d, p, n / (d * p)})
			}
		}
	}
	return out
}

// Mesh is this rank's view of the grid: its coordinates and the
// communicators of the groups it belongs to.
type Mesh struct {
	Shape Shape
	Coord Coord
	World collectives.Comm
	// Data, Pipe and Tensor hold the ranks that differ from this one in
	// that coordinate only, ranked by it.
	Data, Pipe, Tensor collectives.Comm
	// Ends holds the first and last pipeline stages of this rank's
	// pipeline (rank 0 the first), which share the tied token embedding;
	// nil on the other stages and when Pipe is 1.
	Ends collectives.Comm
}

// New splits world into the grid s (s.Size() must equal world.Size());
// every rank must call it with the same s.
func New(ctx context.Context, world collectives.Comm, s Shape) (*Mesh, error) {
	if s.Data < 1 || s.Pipe < 1 || s.Tensor < 1 || s.Size() != world.Size() {
		return nil, fmt.Errorf("mesh: grid %v (%d ranks) for a world of %d ranks", s, s.Size(), world.Size())
	}
	c := s.Coord(world.Rank())
	m := &Mesh{Shape: s, Coord: c, World: world}
	var err error
	split := func(color, key int) collectives.Comm {
		if err != nil {
			return nil
		}
		var sub collectives.Comm
		sub, err = world.Split(ctx, color, key)
		return sub
	}
	m.Tensor = split(c.Data*s.Pipe+c.Pipe, c.Tensor)
	m.Pipe = split(c.Data*s.Tensor+c.Tensor, c.Pipe)
	m.Data = split(c.Pipe*s.Tensor+c.Tensor, c.Data)
	color := -1
	if s.Pipe > 1 && (c.Pipe == 0 || c.Pipe == s.Pipe-1) {
		color = c.Data*s.Tensor + c.Tensor
	}
	m.Ends = split(color, c.Pipe)
	if err != nil {
		m.Close()
		return nil, fmt.Errorf("mesh: split: %w", err)
	}
	return m, nil
}

// FirstStage and LastStage report this rank's place in its pipeline.
func (m *Mesh) FirstStage() bool { return m.Coord.Pipe == 0 }

// LastStage reports whether this rank runs its pipeline's last stage.
func (m *Mesh) LastStage() bool { return m.Coord.Pipe == m.Shape.Pipe-1 }

// Close releases the sub-communicators (not World).
func (m *Mesh) Close() error {
	var errs []error
	for _, c := range []collectives.Comm{m.Tensor, m.Pipe, m.Data, m.Ends} {
		if c != nil {
			errs = append(errs, c.Close())
		}
	}
	return errors.Join(errs...)
}
