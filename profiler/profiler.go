package profiler

import (
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"
)

// Lane is a row within a rank's track.
type Lane int

// The lanes.
const (
	Compute Lane = 0 // forward, backward, optimizer, waits
	Comm    Lane = 1 // collectives
)

// Span is one recorded interval.
type Span struct {
	Name  string
	Lane  Lane
	Start time.Time
	End   time.Time
	Args  map[string]any
}

// Recorder collects the spans of one rank. It is safe for concurrent use.
type Recorder struct {
	rank  int
	mu    sync.Mutex
	spans []Span
}

// New returns an empty recorder for rank.
func New(rank int) *Recorder { return &Recorder{rank: rank} }

// Rank returns the rank the recorder was made for.
func (r *Recorder) Rank() int {
	if r == nil {
		return 0
	}
	return r.rank
}

// Begin starts a span and returns the function that ends it.
func (r *Recorder) Begin(name string, lane Lane) (end func()) {
	if r == nil {
		return func() {}
	}
	start := time.Now()
	return func() { r.Add(Span{Name: name, Lane: lane, Start: start, End: time.Now()}) }
}

// Add records a finished span.
func (r *Recorder) Add(s Span) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.spans = append(r.spans, s)
	r.mu.Unlock()
}

// Spans returns a copy of the recorded spans in start order.
func (r *Recorder) Spans() []Span {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := slices.Clone(r.spans)
	r.mu.Unlock()
	slices.SortStableFunc(out, func(a, b Span) int { return a.Start.Compare(b.Start) })
	return out
}

// Reset drops the recorded spans.
func (r *Recorder) Reset() {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.spans = nil
	r.mu.Unlock()
}

// Event is one Chrome trace event ("X" complete events for spans, "M"
// metadata events naming tracks).
type Event struct {
	Name string         `json:"name"`
	Cat  string         `json:"cat,omitempty"`
	Ph   string         `json:"ph"`
	Ts   float64        `json:"ts"`            // microseconds
	Dur  float64        `json:"dur,omitempty"` // microseconds
	Pid  int            `json:"pid"`
	Tid  int            `json:"tid"`
	Args map[string]any `json:"args,omitempty"`
}

// Trace is the JSON object format of the trace-event spec.
type Trace struct {
	TraceEvents     []Event `json:"traceEvents"`
	DisplayTimeUnit string  `json:"displayTimeUnit,omitempty"`
}

// Events converts the recorders' spans to trace events, with times in
// microseconds since the earliest span of any recorder and one named
// track ("rank r", lanes "compute" and "comm") per recorder.
func Events(recs ...*Recorder) []Event {
	var t0 time.Time
	all := make([][]Span, len(recs))
	for i, r := range recs {
		all[i] = r.Spans()
		for _, s := range all[i] {
			if t0.IsZero() || s.Start.Before(t0) {
				t0 = s.Start
			}
		}
	}
	return events(t0, recs, all)
}

func events(t0 time.Time, recs []*Recorder, all [][]Span) []Event {
	var evs []Event
	for i, r := range recs {
		pid := r.Rank()
		evs = append(evs,
			Event{Name: "process_name", Ph: "M", Pid: pid, Args: map[string]any{"name": fmt.Sprintf("rank %d", pid)}},
			Event{Name: "process_sort_index", Ph: "M", Pid: pid, Args: map[string]any{"sort_index": pid}},
			Event{Name: "thread_name", Ph: "M", Pid: pid, Tid: int(Compute), Args: map[string]any{"name": "compute"}},
			Event{Name: "thread_name", Ph: "M", Pid: pid, Tid: int(Comm), Args: map[string]any{"name": "comm"}})
		for _, s := range all[i] {
			cat := "compute"
			if s.Lane == Comm {
				cat = "comm"
			}
			evs = append(evs, Event{
				Name: s.Name, Cat: cat, Ph: "X", Pid: pid, Tid: int(s.Lane),
				Ts:   float64(s.Start.Sub(t0).Nanoseconds()) / 1e3,
				Dur:  float64(s.End.Sub(s.Start).Nanoseconds()) / 1e3,
				Args: s.Args,
			})
		}
	}
	return evs
}

// WriteChrome writes the recorders' spans as one Chrome trace (JSON object
// format).
func WriteChrome(w io.Writer, recs ...*Recorder) error {
	return writeTrace(w, Events(recs...))
}

// WriteChrome writes r's spans as a Chrome trace.
func (r *Recorder) WriteChrome(w io.Writer) error { return WriteChrome(w, r) }

// WriteChromeAt is WriteChrome with times measured from t0 (for example a
// start time agreed between ranks), so that traces written by separate
// processes line up when merged.
func WriteChromeAt(w io.Writer, t0 time.Time, recs ...*Recorder) error {
	all := make([][]Span, len(recs))
	for i, r := range recs {
		all[i] = r.Spans()
	}
	return writeTrace(w, events(t0, recs, all))
}

func writeTrace(w io.Writer, evs []Event) error {
	enc := json.NewEncoder(w)
	return enc.Encode(Trace{TraceEvents: evs, DisplayTimeUnit: "ms"})
}

// Merge reads several Chrome traces (e.g. one per MPI rank) and writes
// their events as one trace.
func Merge(w io.Writer, traces ...io.Reader) error {
	var evs []Event
	for i, r := range traces {
		var t Trace
		if err := json.NewDecoder(r).Decode(&t); err != nil {
			return fmt.Errorf("profiler: trace %d: %w", i, err)
		}
		evs = append(evs, t.TraceEvents...)
	}
	return writeTrace(w, evs)
}
