//go:build mpi && cgo

package mpi

/*
#cgo pkg-config: ompi-c
#include <mpi.h>
#include <stdlib.h>
#include <stdint.h>

static int tess_note_irecv(void *buf, int n, int tag, MPI_Comm c, MPI_Request *req) {
	return MPI_Irecv(buf, n, MPI_BYTE, MPI_ANY_SOURCE, tag, c, req);
}
static int tess_note_isend(void *buf, int n, int peer, int tag, MPI_Comm c, MPI_Request *req) {
	return MPI_Isend(buf, n, MPI_BYTE, peer, tag, c, req);
}
static int tess_cancel(MPI_Request *req) {
	int rc = MPI_Cancel(req);
	if (rc != MPI_SUCCESS) return rc;
	return MPI_Wait(req, MPI_STATUS_IGNORE);
}
static int tess_test(MPI_Request *req, int *flag) { return MPI_Test(req, flag, MPI_STATUS_IGNORE); }
static int tess_dup(MPI_Comm c, MPI_Comm *out) {
	int rc = MPI_Comm_dup(c, out);
	if (rc == MPI_SUCCESS) MPI_Comm_set_errhandler(*out, MPI_ERRORS_RETURN);
	return rc;
}
static int tess_ibarrier(MPI_Comm c, MPI_Request *req) { return MPI_Ibarrier(c, req); }
static int tess_abort_world(int code) { return MPI_Abort(MPI_COMM_WORLD, code); }
static MPI_Request tess_null_request(void) { return MPI_REQUEST_NULL; }
static int tess_max_u64(uint64_t *v, MPI_Comm c) { return MPI_Allreduce(MPI_IN_PLACE, v, 1, MPI_UINT64_T, MPI_MAX, c); }
*/
import "C"

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"os"
	"slices"
	"time"
	"unsafe"

	"github.com/tessera-ml/tessera/collectives"
)

// Faults across ranks. Every communicator has a control duplicate (ctl,
// from MPI_Comm_dup) on which each rank keeps one receive posted for
// notices from its peers:
//
//   - an abort notice, sent to every peer when this rank aborts (Abort, a
//     context that ended, an MPI error, a failed argument): a peer that
//     sees it aborts with the same cause;
//   - a close notice, sent when a rank closes the communicator without an
//     abort, with how far it got: the number of collective calls it started
//     and, per peer, the transfers it sent to and received from that peer.
//     A peer fails a pending or later call that needs the closed rank
//     beyond that point, and only such a call, so a rank that closes
//     right after the last collective does not fail its peers' copy of it.
//
// Every wait polls the notices of its communicator and of the ones it was
// split from, so a notice reaches a rank blocked in a call as well as its
// next call.

const (
	tagNotice = 7
	noteBytes = 512
	noteHead  = 56 // kind, rank, calls, sent, received, cause length, communicator id
	noteAbort = 1
	noteClose = 2
)

// closed is what a close notice says about its rank.
type closed struct {
	calls          int // collective calls it started
	sent, received int // transfers to and from this rank
}

// pending is what a waiting call needs from its peers: a collective (all
// ranks, the call with index seq) or a transfer with one peer (the
// transfer with index idx in that direction).
type pending struct {
	coll bool
	seq  int
	peer int
	send bool
	idx  int
}

// outNote is a notice being sent; buf is C memory freed once sent.
type outNote struct {
	req C.MPI_Request
	buf unsafe.Pointer
}

// setupNotices duplicates c as the control communicator and posts the
// notice receive. Every rank of c calls it (MPI_Comm_dup is collective).
func (m *comm) setupNotices() error {
	m.peerClosed = make([]*closed, m.size)
	m.sentTo, m.recvdFrom = make([]int, m.size), make([]int, m.size)
	if m.size == 1 {
		return nil
	}
	lock()
	defer unlock()
	if rc := C.tess_dup(m.c, &m.ctl); rc != C.MPI_SUCCESS {
		return fmt.Errorf("collectives/mpi: MPI_Comm_dup: %s", errString(rc))
	}
	// A freed communicator's context id is reused, and a notice sent to a
	// rank that has freed the communicator arrives on the next one that
	// gets the id: notices carry an id the members agree on, and a
	// receiver drops those with another.
	var id [8]byte
	rand.Read(id[:])
	v := C.uint64_t(binary.LittleEndian.Uint64(id[:]))
	if rc := C.tess_max_u64(&v, m.ctl); rc != C.MPI_SUCCESS {
		return fmt.Errorf("collectives/mpi: MPI_Allreduce (communicator id): %s", errString(rc))
	}
	m.id = uint64(v)
	m.noteBuf = C.malloc(noteBytes)
	m.noteReq = C.tess_null_request()
	if rc := C.tess_note_irecv(m.noteBuf, noteBytes, tagNotice, m.ctl, &m.noteReq); rc != C.MPI_SUCCESS {
		return fmt.Errorf("collectives/mpi: notice MPI_Irecv: %s", errString(rc))
	}
	m.noteLive = true
	return nil
}

// notify sends a notice to every peer.
func (m *comm) notify(kind int, cause string) {
	if m.size == 1 {
		return
	}
	m.nmu.Lock()
	defer m.nmu.Unlock()
	if m.ctlFreed {
		return
	}
	if len(cause) > noteBytes-noteHead {
		cause = cause[:noteBytes-noteHead]
	}
	m.mu.Lock()
	seq, sentTo, recvdFrom := m.seq, slices.Clone(m.sentTo), slices.Clone(m.recvdFrom)
	m.mu.Unlock()
	for p := range m.size {
		if p == m.rank {
			continue
		}
		buf := C.malloc(noteBytes)
		b := unsafe.Slice((*byte)(buf), noteBytes)
		clear(b)
		le := binary.LittleEndian
		le.PutUint64(b[0:], uint64(kind))
		le.PutUint64(b[8:], uint64(m.rank))
		le.PutUint64(b[16:], uint64(seq))
		le.PutUint64(b[24:], uint64(sentTo[p]))
		le.PutUint64(b[32:], uint64(recvdFrom[p]))
		le.PutUint64(b[40:], uint64(len(cause)))
		le.PutUint64(b[48:], m.id)
		copy(b[noteHead:], cause)
		n := outNote{req: C.tess_null_request(), buf: buf}
		lock()
		rc := C.tess_note_isend(buf, noteBytes, C.int(p), tagNotice, m.ctl, &n.req)
		unlock()
		if rc != C.MPI_SUCCESS {
			C.free(buf)
			continue // the peer learns at its deadline, or from mpirun
		}
		m.outNotes = append(m.outNotes, n)
	}
}

// pollNotices handles the notices that have arrived for m (not its
// ancestors) and frees the buffers of notices sent. Callers hold no lock.
func (m *comm) pollNotices() {
	if m.size == 1 {
		return
	}
	m.nmu.Lock()
	defer m.nmu.Unlock()
	if m.ctlFreed {
		return
	}
	m.reapNotes()
	// MPI_Test says a null request is complete: test only a posted one.
	for m.noteLive {
		var flag C.int
		lock()
		rc := C.tess_test(&m.noteReq, &flag)
		unlock()
		if rc != C.MPI_SUCCESS || flag == 0 {
			return
		}
		b := unsafe.Slice((*byte)(m.noteBuf), noteBytes)
		le := binary.LittleEndian
		kind, from := int(le.Uint64(b[0:])), int(le.Uint64(b[8:]))
		n := min(int(le.Uint64(b[40:])), noteBytes-noteHead)
		cause := string(b[noteHead : noteHead+n])
		if le.Uint64(b[48:]) != m.id {
			kind = 0 // for an earlier communicator that had the same context id
		}
		switch kind {
		case noteAbort:
			m.setErr(fmt.Errorf("rank %d learned from rank %d: %s", m.rank, from, cause))
		case noteClose:
			if from >= 0 && from < m.size {
				m.mu.Lock()
				m.peerClosed[from] = &closed{calls: int(le.Uint64(b[16:])), sent: int(le.Uint64(b[24:])), received: int(le.Uint64(b[32:]))}
				m.mu.Unlock()
			}
		}
		lock()
		rc = C.tess_note_irecv(m.noteBuf, noteBytes, tagNotice, m.ctl, &m.noteReq)
		unlock()
		if rc != C.MPI_SUCCESS {
			m.noteLive = false
			return
		}
	}
}

// reapNotes frees the notices that have been sent. m.nmu is held.
func (m *comm) reapNotes() {
	m.outNotes = slices.DeleteFunc(m.outNotes, func(n outNote) bool {
		var flag C.int
		lock()
		rc := C.tess_test(&n.req, &flag)
		unlock()
		if rc == C.MPI_SUCCESS && flag != 0 {
			C.free(n.buf)
			return true
		}
		return false
	})
}

// health polls the notices of m and its ancestors and returns the error
// that p (if not nil) or any call on m must fail with: an abort of m or of
// an ancestor, or a peer that closed before the point p needs.
func (m *comm) health(p *pending) error {
	for c := m; c != nil; c = c.parent {
		c.pollNotices()
	}
	if err := m.Err(); err != nil {
		return err
	}
	if p == nil {
		return nil
	}
	m.mu.Lock()
	var cause error
	if p.coll {
		for r, pc := range m.peerClosed {
			if pc != nil && pc.calls <= p.seq {
				cause = fmt.Errorf("rank %d: rank %d closed its communicator after %d collective calls, and this is call %d", m.rank, r, pc.calls, p.seq+1)
				break
			}
		}
	} else if pc := m.peerClosed[p.peer]; pc != nil {
		if p.send && pc.received <= p.idx {
			cause = fmt.Errorf("rank %d: rank %d closed its communicator after receiving %d transfers from it", m.rank, p.peer, pc.received)
		} else if !p.send && pc.sent <= p.idx {
			cause = fmt.Errorf("rank %d: rank %d closed its communicator after sending %d transfers to it", m.rank, p.peer, pc.sent)
		}
	}
	m.mu.Unlock()
	if cause != nil {
		return m.fail(cause)
	}
	return nil
}

// setErr records the first abort of m; it reports whether err was the first.
func (m *comm) setErr(err error) bool {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.err != nil {
		return false
	}
	m.err = fmt.Errorf("%w: %w", collectives.ErrAborted, err)
	return true
}

// fail aborts m with a local cause (telling the peers) and returns the
// communicator's error.
func (m *comm) fail(err error) error {
	m.Abort(err)
	return m.Err()
}

// closeNotices tells the peers that this rank closed (unless it aborted:
// they know), then retires the control communicator: the notice receive
// is cancelled and the notices in flight get up to a second to leave.
func (m *comm) closeNotices(aborted bool) {
	if m.size == 1 {
		return
	}
	if !aborted {
		m.notify(noteClose, fmt.Sprintf("rank %d closed its communicator", m.rank))
	}
	m.nmu.Lock()
	defer m.nmu.Unlock()
	if m.noteLive {
		m.noteLive = false
		lock()
		C.tess_cancel(&m.noteReq)
		unlock()
	}
	for deadline := time.Now().Add(time.Second); len(m.outNotes) > 0 && time.Now().Before(deadline); {
		m.reapNotes()
		time.Sleep(time.Millisecond)
	}
	// Notices still in flight keep their C buffers (a few hundred bytes).
	m.outNotes = nil
}

// freeCtl retires the control communicator. It is not MPI_Comm_free'd:
// a peer may still send a notice to it (an abort after this rank closed),
// and a freed communicator's context id is reused by later communicators,
// whose notice receive would then take the stale notice (or worse, with
// the receive buffer freed). One communicator per Split stays allocated.
func (m *comm) freeCtl() {
	m.nmu.Lock()
	defer m.nmu.Unlock()
	if m.ctlFreed || m.size == 1 {
		return
	}
	m.ctlFreed = true
	if !m.noteLive {
		C.free(m.noteBuf) // the receive was cancelled and completed
	}
}

// closeGrace is how long an aborted world's Close waits for every rank to
// reach Close before it calls MPI_Abort: TESSERA_MPI_CLOSE_GRACE (a Go
// duration), 10s by default.
func closeGrace() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("TESSERA_MPI_CLOSE_GRACE")); err == nil && d > 0 {
		return d
	}
	return 10 * time.Second
}

// closeBarrier waits, on the control communicator, for every rank to reach
// Close: without a limit when this rank is healthy (MPI_Finalize would
// wait as long), at most grace when it aborted. It reports whether every
// rank arrived.
func (m *comm) closeBarrier(aborted bool, grace time.Duration) bool {
	if m.size == 1 {
		return true
	}
	req := C.tess_null_request()
	lock()
	rc := C.tess_ibarrier(m.ctl, &req)
	unlock()
	if rc != C.MPI_SUCCESS {
		return false
	}
	start := time.Now()
	for i := 0; ; i++ {
		var flag C.int
		lock()
		rc := C.tess_test(&req, &flag)
		unlock()
		if rc != C.MPI_SUCCESS {
			return false
		}
		if flag != 0 {
			return true
		}
		if aborted && time.Since(start) > grace {
			return false
		}
		backoff(i, start)
	}
}

// abortJob ends every process of the job through mpirun (MPI_Abort on the
// world); it does not return.
func abortJob(code int) {
	C.tess_abort_world(C.int(code))
}
