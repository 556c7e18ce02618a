package cuda

import (
	"time"
)

// Stream is a CUDA stream. A nil *Stream means the device's legacy default
// stream (stream 0) wherever a stream is accepted.
type Stream struct {
	d *Device
	h handle
}

// CU_STREAM_NON_BLOCKING: the stream does not synchronise with stream 0.
const streamNonBlocking = 1

// NewStream creates a stream (cuStreamCreate). A non-blocking stream does
// not synchronise with the legacy default stream.
func (d *Device) NewStream(nonBlocking bool) (*Stream, error) {
	var flags uint32
	if nonBlocking {
		flags = streamNonBlocking
	}
	h, r := d.api.streamCreate(d.ctx, flags)
	if r != Success {
		return nil, newError(d.api, "cuStreamCreate", r)
	}
	s := &Stream{d: d, h: h}
	d.mu.Lock()
	d.streams[s.id()] = s
	d.mu.Unlock()
	return s, nil
}

// Handle returns the raw CUstream (nil for the default stream), for
// cuBLAS/NCCL interop.
func (s *Stream) Handle() handle {
	if s == nil {
		return nil
	}
	return s.h
}

// id is the stream's identity for the caching allocator.
func (s *Stream) id() StreamID {
	if s == nil {
		return 0
	}
	return StreamID(uintptr(s.h))
}

// SyncStream waits until all work queued on s (nil: the default stream)
// has finished.
func (d *Device) SyncStream(s *Stream) error {
	return newError(d.api, "cuStreamSynchronize", d.api.streamSynchronize(d.ctx, s.Handle()))
}

// Sync waits until all work queued on s has finished.
func (s *Stream) Sync() error { return s.d.SyncStream(s) }

// Done reports whether all work queued on s has finished (cuStreamQuery).
func (s *Stream) Done() (bool, error) {
	r := s.d.api.streamQuery(s.d.ctx, s.h)
	if r == ErrorNotReady {
		return false, nil
	}
	return r == Success, newError(s.d.api, "cuStreamQuery", r)
}

// Wait makes future work on s wait for event e (cuStreamWaitEvent).
func (s *Stream) Wait(e *Event) error {
	return newError(e.d.api, "cuStreamWaitEvent", e.d.api.streamWaitEvent(e.d.ctx, s.Handle(), e.h))
}

// Destroy destroys the stream (cuStreamDestroy_v2) after the work queued on
// it has finished.
func (s *Stream) Destroy() error {
	if s == nil || s.h == nil {
		return nil
	}
	s.d.mu.Lock()
	delete(s.d.streams, s.id())
	s.d.mu.Unlock()
	err := newError(s.d.api, "cuStreamDestroy_v2", s.d.api.streamDestroy(s.d.ctx, s.h))
	s.h = nil
	return err
}

// Event is a CUDA event.
type Event struct {
	d *Device
	h handle
}

// CUevent flags.
const (
	eventDefault       = 0
	eventDisableTiming = 2
)

// NewEvent creates an event; timing events can be used with Elapsed.
func (d *Device) NewEvent(timing bool) (*Event, error) {
	flags := uint32(eventDisableTiming)
	if timing {
		flags = eventDefault
	}
	h, r := d.api.eventCreate(d.ctx, flags)
	if r != Success {
		return nil, newError(d.api, "cuEventCreate", r)
	}
	return &Event{d: d, h: h}, nil
}

// Record records e on stream s (nil: default stream).
func (e *Event) Record(s *Stream) error {
	return newError(e.d.api, "cuEventRecord", e.d.api.eventRecord(e.d.ctx, e.h, s.Handle()))
}

// Synchronize waits for the event.
func (e *Event) Synchronize() error {
	return newError(e.d.api, "cuEventSynchronize", e.d.api.eventSynchronize(e.d.ctx, e.h))
}

// Done reports whether the work before the event has finished.
func (e *Event) Done() (bool, error) {
	r := e.d.api.eventQuery(e.d.ctx, e.h)
	if r == ErrorNotReady {
		return false, nil
	}
	return r == Success, newError(e.d.api, "cuEventQuery", r)
}

// Destroy destroys the event.
func (e *Event) Destroy() error {
	if e == nil || e.h == nil {
		return nil
	}
	err := newError(e.d.api, "cuEventDestroy_v2", e.d.api.eventDestroy(e.d.ctx, e.h))
	e.h = nil
	return err
}

// Elapsed returns the time between two recorded, completed timing events
// (cuEventElapsedTime; resolution about 0.5 µs).
func Elapsed(start, end *Event) (time.Duration, error) {
	ms, r := start.d.api.eventElapsed(start.d.ctx, start.h, end.h)
	if r != Success {
		return 0, newError(start.d.api, "cuEventElapsedTime", r)
	}
	return time.Duration(float64(ms) * float64(time.Millisecond)), nil
}
