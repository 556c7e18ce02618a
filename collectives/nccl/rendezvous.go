package nccl

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/tensor"
)

// IDBytes is the size of the blob that rank 0 shares (an ncclUniqueId).
const IDBytes = 128

// The TCP rendezvous protocol. A client sends hello = magic, version,
// rank, size (4 × uint32, big endian); the server answers with status
// (uint32: 0 ok, else an error follows as uint32 length + text) and, on
// ok, the 128-byte id. The server answers only after every rank has said
// hello, so a bad world (wrong size, duplicate rank) is reported to all.
const (
	magic   = 0x54535241 // "TSRA"
	version = 1
)

// ServeID is rank 0's side of the TCP rendezvous: it accepts one
// connection from each of ranks 1..size-1 on ln, checks that every rank
// agrees on the world size and that no rank is missing or duplicated, and
// sends id to each. It returns when every rank has the id, or with an
// error (which it also sends to the ranks that connected) when the world
// is inconsistent or ctx ends first. It closes ln.
func ServeID(ctx context.Context, ln net.Listener, size int, id []byte) error {
	defer ln.Close()
	if len(id) != IDBytes {
		return fmt.Errorf("%w: nccl rendezvous: id of %d bytes, want %d", collectives.ErrInvalid, len(id), IDBytes)
	}
	if size <= 1 {
		return nil
	}
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()

	type peer struct {
		conn net.Conn
		rank int
	}
	var (
		peers []peer
		conns []net.Conn
		seen  = map[int]bool{0: true}
	)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	var bad error
	for len(peers) < size-1 {
		conn, err := ln.Accept()
		if err != nil {
			var missing []int
			for r := 1; r < size; r++ {
				if !seen[r] {
					missing = append(missing, r)
				}
			}
			if ctx.Err() != nil {
				err = ctx.Err()
			}
			err = fmt.Errorf("%w: nccl rendezvous: rank 0 waited for ranks %v: %w", collectives.ErrAborted, missing, err)
			sendErr(conns, err)
			return err
		}
		conn.SetDeadline(deadline(ctx, 10*time.Second))
		var hello [4]uint32
		if err := binary.Read(conn, binary.BigEndian, &hello); err != nil || hello[0] != magic {
			conn.Close() // not one of ours (a port scan, a stale client)
			continue
		}
		conn.SetDeadline(time.Time{})
		r, s := int(hello[2]), int(hello[3])
		switch {
		case hello[1] != version:
			bad = errors.Join(bad, fmt.Errorf("rank %d speaks rendezvous version %d, rank 0 version %d", r, hello[1], version))
		case s != size:
			bad = errors.Join(bad, fmt.Errorf("rank 0 has world size %d but rank %d has world size %d", size, r, s))
		case r <= 0 || r >= size:
			bad = errors.Join(bad, fmt.Errorf("rank %d is out of range for world size %d", r, size))
		case seen[r]:
			bad = errors.Join(bad, fmt.Errorf("two processes claim rank %d", r))
		}
		seen[r] = true
		peers = append(peers, peer{conn: conn, rank: r})
		conns = append(conns, conn)
	}
	if bad != nil {
		err := fmt.Errorf("%w: nccl rendezvous: %w", collectives.ErrMismatch, bad)
		sendErr(conns, err)
		return err
	}
	var errs []error
	for _, p := range peers {
		p.conn.SetDeadline(deadline(ctx, 10*time.Second))
		var ok [4]byte
		if _, err := p.conn.Write(append(ok[:], id...)); err != nil {
			errs = append(errs, fmt.Errorf("sending the id to rank %d: %w", p.rank, err))
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%w: nccl rendezvous: %w", collectives.ErrAborted, errors.Join(errs...))
	}
	return nil
}

func deadline(ctx context.Context, d time.Duration) time.Time {
	t := time.Now().Add(d)
	if dl, ok := ctx.Deadline(); ok && dl.Before(t) {
		t = dl
	}
	return t
}

func sendErr(conns []net.Conn, err error) {
	msg := []byte(err.Error())
	for _, c := range conns {
		c.SetDeadline(time.Now().Add(2 * time.Second))
		var hdr [8]byte
		binary.BigEndian.PutUint32(hdr[0:], 1)
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(msg)))
		c.Write(append(hdr[:], msg...))
	}
}

// FetchID is the other ranks' side: it connects to rank 0 at addr
// (retrying while rank 0 is not listening yet, until ctx ends), says
// hello and returns the id.
func FetchID(ctx context.Context, addr string, rank, size int) ([]byte, error) {
	var d net.Dialer
	var conn net.Conn
	var err error
	for wait := 10 * time.Millisecond; ; wait = min(wait*2, 500*time.Millisecond) {
		conn, err = d.DialContext(ctx, "tcp", addr)
		if err == nil {
			break
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("%w: nccl rendezvous: rank %d cannot reach rank 0 at %s: %w (last error: %v)",
				collectives.ErrAborted, rank, addr, ctx.Err(), err)
		case <-time.After(wait):
		}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	hello := [4]uint32{magic, version, uint32(rank), uint32(size)}
	if err := binary.Write(conn, binary.BigEndian, hello); err != nil {
		return nil, fetchErr(ctx, rank, addr, err)
	}
	var status [4]byte
	if _, err := io.ReadFull(conn, status[:]); err != nil {
		return nil, fetchErr(ctx, rank, addr, err)
	}
	if binary.BigEndian.Uint32(status[:]) != 0 {
		var n [4]byte
		if _, err := io.ReadFull(conn, n[:]); err != nil {
			return nil, fetchErr(ctx, rank, addr, err)
		}
		msg := make([]byte, min(binary.BigEndian.Uint32(n[:]), 1<<16))
		io.ReadFull(conn, msg)
		return nil, fmt.Errorf("%w: rank %d: rank 0 refused the world: %s", collectives.ErrMismatch, rank, msg)
	}
	id := make([]byte, IDBytes)
	if _, err := io.ReadFull(conn, id); err != nil {
		return nil, fetchErr(ctx, rank, addr, err)
	}
	return id, nil
}

func fetchErr(ctx context.Context, rank int, addr string, err error) error {
	if ctx.Err() != nil {
		err = ctx.Err()
	}
	return fmt.Errorf("%w: nccl rendezvous: rank %d with rank 0 at %s: %w", collectives.ErrAborted, rank, addr, err)
}

// ExchangeTCP shares id from rank 0 with every rank over TCP: rank 0
// listens on addr ("host:port"; the host part may be empty) and the others
// connect to it. Rank 0 passes its id and gets it back; the others pass
// nil.
func ExchangeTCP(ctx context.Context, addr string, rank, size int, id []byte) ([]byte, error) {
	if rank != 0 {
		return FetchID(ctx, addr, rank, size)
	}
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("%w: nccl rendezvous address %q: %v", collectives.ErrInvalid, addr, err)
	}
	var lc net.ListenConfig
	ln, err := lc.Listen(ctx, "tcp", ":"+port)
	if err != nil {
		return nil, fmt.Errorf("nccl rendezvous: rank 0 cannot listen on %s: %w", addr, err)
	}
	if err := ServeID(ctx, ln, size, id); err != nil {
		return nil, err
	}
	return id, nil
}

// ExchangeComm shares id from rank 0 with every rank of c (for example the
// MPI world communicator) with one Broadcast. Rank 0 passes its id; the
// others pass nil.
func ExchangeComm(ctx context.Context, c collectives.Comm, id []byte) ([]byte, error) {
	buf := make([]int64, IDBytes/8)
	if c.Rank() == 0 {
		if len(id) != IDBytes {
			return nil, fmt.Errorf("%w: id of %d bytes, want %d", collectives.ErrInvalid, len(id), IDBytes)
		}
		for i := range buf {
			buf[i] = int64(binary.LittleEndian.Uint64(id[8*i:]))
		}
	}
	t := tensor.FromSlice(buf, len(buf))
	if err := c.Broadcast(ctx, t, 0); err != nil {
		return nil, err
	}
	out := make([]byte, IDBytes)
	for i, v := range tensor.HostData(t.Storage()).([]int64) {
		binary.LittleEndian.PutUint64(out[8*i:], uint64(v))
	}
	return out, nil
}
