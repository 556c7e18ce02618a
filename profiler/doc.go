// Package profiler records the spans of a training step (forward,
// backward, each gradient bucket's communication, waits, the optimizer
// step) and writes them as Chrome trace-event JSON, viewable in
// chrome://tracing or https://ui.perfetto.dev, like Horovod's timeline.
//
// Each rank is one track (a trace "process" whose id is the rank); within
// it, compute spans go to lane 0 and communication spans to lane 1, so
// overlap shows as spans stacked in time. A nil *Recorder records nothing,
// so code can be instrumented unconditionally:
//
//	rec := profiler.New(rank)
//	end := rec.Begin("forward", profiler.Compute)
//	out := model.Forward(x)
//	end()
//	...
//	f, _ := os.Create("trace.json")
//	rec.WriteChrome(f) // or profiler.WriteChrome(f, recs...) for several ranks
//
// Ranks of one process (the local backend) write one file with
// WriteChrome(w, recs...); ranks of an MPI job each write their own and
// Merge joins the files.
package profiler
