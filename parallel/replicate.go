package parallel

import (
	"context"
	"fmt"
	"strings"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/nn"
	"github.com/tessera-ml/tessera/tensor"
)

// Describe lists m's parameters and buffers, one "kind name dtype[shape]"
// line each, in registration order.
func Describe(m nn.Module) []string {
	var lines []string
	for _, p := range m.Parameters() {
		v := p.Param.Value()
		lines = append(lines, fmt.Sprintf("parameter %s %s%v", p.Name, v.DType(), []int(v.Shape())))
	}
	for _, b := range m.Buffers() {
		lines = append(lines, fmt.Sprintf("buffer %s %s%v", b.Name, b.Buffer.DType(), []int(b.Buffer.Shape())))
	}
	return lines
}

// VerifyModel checks that m has the same parameters and buffers (names,
// shapes, dtypes, order) on every rank of c; see VerifySame.
func VerifyModel(ctx context.Context, c collectives.Comm, m nn.Module) error {
	return VerifySame(ctx, c, "model", Describe(m))
}

// VerifySame checks that every rank passed the same lines. Every rank
// exchanges its lines (two all-gathers whose sizes every rank knows in
// advance, so a difference cannot hang) and returns the same verdict: nil,
// or an error wrapping collectives.ErrMismatch that names the first line
// where a rank differs from rank 0.
func VerifySame(ctx context.Context, c collectives.Comm, what string, lines []string) error {
	all, err := gatherLines(ctx, c, lines)
	if err != nil {
		return fmt.Errorf("parallel: comparing the %s across ranks: %w", what, err)
	}
	ref := all[0]
	for r := 1; r < len(all); r++ {
		got := all[r]
		for i := 0; i < max(len(ref), len(got)); i++ {
			a, b := "nothing", "nothing"
			if i < len(ref) {
				a = ref[i]
			}
			if i < len(got) {
				b = got[i]
			}
			if a != b {
				return fmt.Errorf("%w: the %s differs: entry %d is %q on rank 0 and %q on rank %d",
					collectives.ErrMismatch, what, i, a, b, r)
			}
		}
	}
	return nil
}

// gatherLines all-gathers every rank's lines.
func gatherLines(ctx context.Context, c collectives.Comm, lines []string) ([][]string, error) {
	text := strings.Join(lines, "\n")
	n := c.Size()
	lens := tensor.Zeros(tensor.Int64, n)
	if err := c.AllGather(ctx, lens, tensor.FromSlice([]int64{int64(len(text))}, 1)); err != nil {
		return nil, err
	}
	ls := lens.Int64s()
	maxLen := 0
	for _, l := range ls {
		maxLen = max(maxLen, int(l))
	}
	out := make([][]string, n)
	if maxLen == 0 {
		return out, nil
	}
	buf := make([]int32, maxLen)
	for i := range len(text) {
		buf[i] = int32(text[i])
	}
	all := tensor.Zeros(tensor.Int32, n*maxLen)
	if err := c.AllGather(ctx, all, tensor.FromSlice(buf, maxLen)); err != nil {
		return nil, err
	}
	vals := tensor.ToSlice[int32](all)
	for r := range n {
		b := make([]byte, ls[r])
		for i := range b {
			b[i] = byte(vals[r*maxLen+i])
		}
		if len(b) > 0 {
			out[r] = strings.Split(string(b), "\n")
		}
	}
	return out, nil
}

// BroadcastModule copies rank root's parameters and buffers to every rank.
func BroadcastModule(ctx context.Context, c collectives.Comm, m nn.Module, root int) error {
	var calls []collectives.Call
	for _, p := range m.Parameters() {
		calls = append(calls, collectives.BroadcastCall(p.Param.Value(), root))
	}
	for _, b := range m.Buffers() {
		calls = append(calls, collectives.BroadcastCall(b.Buffer, root))
	}
	if len(calls) == 0 {
		return nil
	}
	if err := c.Group(ctx, calls...); err != nil {
		return fmt.Errorf("parallel: broadcasting rank %d's parameters: %w", root, err)
	}
	return nil
}
