package collectives

import (
	"context"
	"fmt"
	"slices"
	"sync"
)

// self is the one-rank backend: every collective is a copy or nothing.
type self struct {
	mu  sync.Mutex
	err error
}

func newSelf() *self { return &self{} }

func (s *self) Name() string { return "self" }
func (s *self) Rank() int    { return 0 }
func (s *self) Size() int    { return 1 }

func (s *self) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

func (s *self) Abort(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil {
		s.err = fmt.Errorf("%w: %w", ErrAborted, err)
	}
}

func (s *self) check(ctx context.Context, k Kind) error {
	if err := s.Err(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		s.Abort(fmt.Errorf("rank 0: %s: %w", k, err))
		return s.Err()
	}
	return nil
}

func (s *self) AllReduce(ctx context.Context, b Buffer, op RedOp) error {
	return s.check(ctx, KindAllReduce)
}
func (s *self) Broadcast(ctx context.Context, b Buffer, root int) error {
	return s.check(ctx, KindBroadcast)
}
func (s *self) Reduce(ctx context.Context, b Buffer, op RedOp, root int) error {
	return s.check(ctx, KindReduce)
}
func (s *self) copy(ctx context.Context, k Kind, dst, src Buffer) error {
	if err := s.check(ctx, k); err != nil {
		return err
	}
	copy(dst.Host, src.Host)
	return nil
}
func (s *self) AllGather(ctx context.Context, dst, src Buffer) error {
	return s.copy(ctx, KindAllGather, dst, src)
}
func (s *self) ReduceScatter(ctx context.Context, dst, src Buffer, op RedOp) error {
	return s.copy(ctx, KindReduceScatter, dst, src)
}
func (s *self) AllToAll(ctx context.Context, dst, src Buffer) error {
	return s.copy(ctx, KindAllToAll, dst, src)
}
func (s *self) Barrier(ctx context.Context) error { return s.check(ctx, KindBarrier) }

func (s *self) SendRecv(ctx context.Context, sends, recvs []PeerBuffer) error {
	if err := s.check(ctx, KindSend); err != nil {
		return err
	}
	if len(sends) != len(recvs) {
		err := fmt.Errorf("rank 0: %d sends to itself but %d receives: they would never match", len(sends), len(recvs))
		s.Abort(err)
		return s.Err()
	}
	for i, r := range recvs {
		sb := sends[i].Buf
		if sb.DType != r.Buf.DType || sb.Count != r.Buf.Count || !slices.Equal(sb.Shape, r.Buf.Shape) {
			return fmt.Errorf("%w: Send/Recv: rank 0 sent %s but rank 0 receives %s", ErrMismatch, sb.Desc(), r.Buf.Desc())
		}
		copy(r.Buf.Host, sb.Host)
	}
	return nil
}

func (s *self) Split(ctx context.Context, color, key int) (Backend, error) {
	if err := s.check(ctx, KindSplit); err != nil {
		return nil, err
	}
	if color < 0 {
		return nil, nil
	}
	return newSelf(), nil
}

func (s *self) Close() error { return nil }
