package local

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/tessera-ml/tessera/collectives"
)

// slot is what one rank posts for the collective in progress.
type slot struct {
	kind       collectives.Kind
	a, b       collectives.Buffer // the (in-place or dst) buffer and src
	op         collectives.RedOp
	root       int
	color, key int
	scratch    []byte // a rank's partial result (Tree); not compared
}

// world is the state the ranks of one communicator share.
type world struct {
	n   int
	cfg config

	mu      sync.Mutex
	count   int
	arrived []bool
	gen     chan struct{}

	slots []slot

	abortCh   chan struct{}
	abortOnce sync.Once
	abortErr  error

	mail [][]chan *message // mail[src][dst]

	splitMu  sync.Mutex
	splits   map[[2]int]*pendingSplit
	children []*world
}

type pendingSplit struct {
	w    *world
	left int
}

func newWorld(n int, cfg config) *world {
	w := &world{
		n: n, cfg: cfg,
		arrived: make([]bool, n),
		gen:     make(chan struct{}),
		slots:   make([]slot, n),
		abortCh: make(chan struct{}),
		mail:    make([][]chan *message, n),
		splits:  map[[2]int]*pendingSplit{},
	}
	for i := range w.mail {
		w.mail[i] = make([]chan *message, n)
		for j := range w.mail[i] {
			w.mail[i][j] = make(chan *message, 64)
		}
	}
	return w
}

// abort fails the world and every sub-communicator split from it.
func (w *world) abort(cause error) { w.abortWith(cause, true) }

// abortWith fails the world; with cascade it also fails every world split
// from it (a closing rank only fails the worlds it belongs to).
func (w *world) abortWith(cause error, cascade bool) {
	w.abortOnce.Do(func() {
		w.abortErr = fmt.Errorf("%w: %w", collectives.ErrAborted, cause)
		close(w.abortCh)
	})
	if !cascade {
		return
	}
	w.splitMu.Lock()
	kids := slices.Clone(w.children)
	w.splitMu.Unlock()
	for _, c := range kids {
		c.abort(cause)
	}
}

func (w *world) err() error {
	select {
	case <-w.abortCh:
		return w.abortErr
	default:
		return nil
	}
}

// barrier returns when all ranks have arrived, or an error when the world
// is aborted or ctx is done first (which aborts the world).
func (w *world) barrier(ctx context.Context, r int, k collectives.Kind) error {
	w.mu.Lock()
	if err := w.err(); err != nil {
		w.mu.Unlock()
		return err
	}
	ch := w.gen
	w.count++
	w.arrived[r] = true
	if w.count == w.n {
		w.count = 0
		clear(w.arrived)
		w.gen = make(chan struct{})
		w.mu.Unlock()
		close(ch)
		return nil
	}
	w.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-w.abortCh:
		// A barrier that was released before the abort succeeded: a peer
		// that passed it and then closed (or failed) must not fail us.
		select {
		case <-ch:
			return nil
		default:
		}
		return w.abortErr
	case <-ctx.Done():
		var missing []int
		w.mu.Lock()
		if w.gen == ch {
			for i, a := range w.arrived {
				if !a {
					missing = append(missing, i)
				}
			}
		}
		w.mu.Unlock()
		if missing == nil {
			select {
			case <-ch:
				return nil
			default:
			}
		}
		w.abort(fmt.Errorf("rank %d: %s: %w waiting for ranks %v", r, k, ctx.Err(), missing))
		return w.abortErr
	}
}

// message is one Send in flight.
type message struct {
	buf   collectives.Buffer
	from  int
	state atomic.Int32 // 0 posted, 1 taken by the receiver, 2 withdrawn
	done  chan struct{}
	err   error
}

// check compares every rank's slot with rank 0's.
func (w *world) check() error {
	s0 := w.slots[0]
	a0 := collectives.Args{Kind: s0.kind, A: s0.a, B: s0.b, Op: s0.op, Root: s0.root}
	for i := 1; i < w.n; i++ {
		s := w.slots[i]
		if err := collectives.Disagree(a0, i, collectives.Args{Kind: s.kind, A: s.a, B: s.b, Op: s.op, Root: s.root}); err != nil {
			return err
		}
	}
	return nil
}
