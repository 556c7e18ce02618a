// Command scaling checks scaling.CostModel against measurement: for every
// configuration that runs here — 1, 2 and 4 ranks, the local (goroutines)
// and MPI (processes) backends, the synchronisation strategies of
// parallel/strategy and DDP's bucket sizes — it predicts the data-parallel
// step time of an MLP (784-1024-1024-10, Adam, random data; bench/ddp's
// model) and measures it.
//
// Calibration, in the same run as the measurements (-reps rounds; the
// machine is shared, so a configuration's numbers are medians):
//
//   - compute, paired: every timed step of a configuration alternates with a
//     step of a plain replica of the model on the same batch without any
//     communication, on every rank at once; each rank's median over the
//     steps, averaged over the ranks (the straggler term below, relative to
//     that mean, adds the wait for the slowest rank: with more ranks than
//     cores which rank runs first is the scheduler's choice, so one rank's
//     own time is early or late by turns); forward, backward and update are
//     timed apart. The prediction uses
//     these (median over the steps), so compute and measurement see the
//     same load;
//   - compute, fitted: a sweep over batches 16-128 (fastest of 8 steps,
//     every rank of the world at once with -compute concurrent, or one rank
//     with the threads of a rank of that world scaled by
//     scaling.Oversubscription with -compute alone); scaling.FitCompute
//     gives fixed + per-sample cost, used for the scaling projections and
//     reported in the pred_fit_ms column;
//   - link: all-reduce, all-gather and reduce-scatter from 16 KiB to 16 MiB
//     on the N-rank worlds (median of 5 calls); scaling.FitLink fits one α,
//     β, γ per backend with the ring's cost factors and reports the fit
//     error;
//   - synchronisation (the straggler term), a phase of its own before the
//     configurations: every rank of the world runs the plain forward and
//     backward at once between barriers (-sync-steps steps per round) and
//     records when it left the barrier and when it finished;
//     scaling.Arrivals turns them into the per-rank arrival distribution
//     and CostModel.SyncFactor(N) is the expected maximum of N draws of it;
//   - the central server's traffic: send-receive from 16 KiB to 16 MiB
//     (rank 1 to rank 0; FitLink fits the point-to-point α, β), the
//     server's grouped receive from and send to every worker at 16 MiB (the
//     calls central-ps makes, against one send-receive: how far the server
//     takes them one after another) and tensor.AddInto per byte (the
//     server's own addition of the gradients: γ of the server's link);
//   - the server's reduction as central-ps runs it (serverSumSamples): after
//     the workers' push, rank 0 copies its own gradient into the sum, adds
//     the N−1 just received and scales the sum, each timed; it prices the
//     server's copies and additions (the 16 MiB AddInto above adds the same
//     pair of vectors again and again, where the step adds the vectors the
//     receives just wrote);
//   - memory copy: a float32 vector of the model's gradient size
//     (tensor.CopyFrom, median of 8) copied by every rank at once and by
//     rank 0 alone; the time per byte prices the strategies' own copies
//     (copyPasses): alone for the central server's (the workers wait
//     meanwhile), at once for the others'.
//
// The prediction for a configuration is scaling.CostModel.Step with the
// ranks' mean paired compute stretched by SyncFactor(N), the link, the
// strategy's algorithm (allreduce and fusion: ring; sharded-ps:
// reduce-scatter + all-gather; central-ps: the server's point-to-point link
// and addition) and DDP's real buckets with overlap on or off, the cores
// (the machine's, GOMAXPROCS) and threads per rank (threadsFor) that decide
// how much of the overlap the CPU backends get
// (scaling.CostModel.OverlapShare), and the strategy's copies (copyPasses ×
// the gradient's bytes × the copy time per byte, plus selfCopies on one
// rank); the measurement is rank 0's median step (every step started after
// a barrier). pred_prev_ms is the previous model on the same measurements
// (the model of commit 9856411): rank 0's own paired compute, the server's
// additions at the 16 MiB AddInto and its copies at the plain copy, and no
// one-rank copies of sharded-ps.
//
//	go run ./bench/scaling                            # 1,2,4 local ranks, the table
//	go run ./bench/scaling -json -calib-out cal.json  # one JSON line per configuration
//	bench/scaling/mpi.sh                              # MPI backend: mpirun -np 2 and 4, alternating
//	go run ./bench/scaling -summarize rows.json -markdown   # medians over repetitions
//	go run ./bench/scaling -plot rows.json -calib cal.json -png docs/modules/img/fundamentals
//
// -json prints {"config","ranks","backend","predicted_ms","measured_ms",...}
// per configuration.
package main

import (
	"cmp"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/tessera-ml/tessera/collectives"
	_ "github.com/tessera-ml/tessera/collectives/mpi" // the MPI backend with -tags mpi
	"github.com/tessera-ml/tessera/parallel"
	"github.com/tessera-ml/tessera/scaling"
)

// Row is one configuration's prediction and measurement.
type Row struct {
	Config        string  `json:"config"`
	Ranks         int     `json:"ranks"`
	Backend       string  `json:"backend"`
	PredictedMs   float64 `json:"predicted_ms"`
	MeasuredMs    float64 `json:"measured_ms"`
	ErrorPct      float64 `json:"error_pct"`
	Strategy      string  `json:"strategy"`
	BucketMiB     float64 `json:"bucket_mib,omitempty"`
	Overlap       bool    `json:"overlap"`
	BatchPerRank  int     `json:"batch_per_rank"`
	Threads       int     `json:"threads"`
	PredComputeMs float64 `json:"pred_compute_ms"`
	// PredFitMs is the prediction with the compute of the fitted sweep
	// (Calib.Compute) instead of the paired steps.
	PredFitMs     float64   `json:"pred_fit_ms"`
	PredCommMs    float64   `json:"pred_comm_ms"`
	PredExposedMs float64   `json:"pred_exposed_ms"`
	MeasuredReps  []float64 `json:"measured_reps_ms"`
	// PredStraggleMs is the predicted wait for the slowest rank
	// (scaling.Breakdown.Straggle).
	PredStraggleMs float64 `json:"pred_straggle_ms"`
	// PredPrevMs is the previous model on the same measurements (commit
	// 9856411; Calib.model with prev): rank 0's own compute and the older
	// prices of the central server's work (ErrorPrevPct its error).
	PredPrevMs   float64 `json:"pred_prev_ms"`
	ErrorPrevPct float64 `json:"error_prev_pct"`
	// MeasuredWaitMs is the time Step waited for communication per step
	// (the exposed communication, as the strategy counts it).
	MeasuredWaitMs float64 `json:"measured_wait_ms"`
}

// Calib is what the predictions used (written by -calib-out, read by -plot).
type Calib struct {
	Backend string                  `json:"backend"`
	Link    scaling.Calibration     `json:"link"`
	Compute map[int]scaling.Compute `json:"compute"` // by world size
	// ComputeMode is how compute was calibrated: "concurrent" (every rank of
	// the world at once, no communication) or "alone" (one rank with the
	// threads of a rank of that world, slowed by scaling.Oversubscription).
	ComputeMode string  `json:"compute_mode"`
	Cores       int     `json:"cores"`
	Sizes       []int   `json:"sizes"`
	GradB       float64 `json:"grad_bytes"`
	Batch       int     `json:"batch"`
	Global      int     `json:"global"`
	// Sync is the synchronisation calibration by world size (the straggler
	// term), P2P the point-to-point link (send-receive from rank 1 to rank
	// 0), AddNsPerB the server's addition of a gradient (tensor.AddInto) per
	// byte, and Server the central server's grouped transfers by world
	// size: ServerLink is P2P's α and β with AddNsPerB as γ.
	Sync      map[int]SyncCal     `json:"sync,omitempty"`
	P2P       scaling.Calibration `json:"p2p"`
	AddNsPerB float64             `json:"add_ns_per_byte"`
	Server    map[int]ServerCheck `json:"server,omitempty"`
	// CopyNsPerB is the memory copy's time per byte by world size with every
	// rank copying at once, CopyAloneNsPerB with rank 0 alone.
	CopyNsPerB      map[int]float64 `json:"copy_ns_per_byte,omitempty"`
	CopyAloneNsPerB map[int]float64 `json:"copy_alone_ns_per_byte,omitempty"`
	// ServerSum is the central server's reduction by world size, timed as
	// central-ps runs it (serverSumSamples): it prices the server's
	// additions (γ of ServerLink) and its copies on N > 1 ranks.
	ServerSum map[int]serverSum `json:"server_sum,omitempty"`
}

// setErrors sets ErrorPct and ErrorPrevPct from the predictions and
// MeasuredMs.
func (r *Row) setErrors() {
	r.ErrorPct = 100 * (r.PredictedMs - r.MeasuredMs) / r.MeasuredMs
	r.ErrorPrevPct = 100 * (r.PredPrevMs - r.MeasuredMs) / r.MeasuredMs
}

// SyncCal is the synchronisation calibration of one world size: N ranks run
// the plain forward and backward at once between barriers (batch Batch,
// Steps steps per round).
type SyncCal struct {
	// Arrivals are the ranks' arrivals about the mean of their step, over
	// the mean compute (scaling.Arrivals), every round pooled: the
	// CostModel's Straggler.
	Arrivals []float64 `json:"arrivals"`
	// Factor is scaling.CostModel.SyncFactor at this world size, Direct the
	// within-step straggle seen directly (scaling.WithinStep, the median
	// over rounds) for comparison with Factor − 1.
	Factor float64 `json:"factor"`
	Direct float64 `json:"direct"`
	// ComputeMs and WaitMs are rank 0's median compute and median wait at
	// the barrier after it.
	ComputeMs float64 `json:"compute_ms"`
	WaitMs    float64 `json:"wait_ms"`
	Steps     int     `json:"steps"`
}

// ServerCheck is the central server's traffic at Bytes (the medians over
// rounds): one send-receive, the grouped receive from the N−1 workers
// (push) and the grouped send to them (pull); push/send-receive near N−1
// says the server takes the transfers one after another.
type ServerCheck struct {
	Bytes      float64 `json:"bytes"`
	SendRecvMs float64 `json:"sendrecv_ms"`
	PushMs     float64 `json:"push_ms"`
	PullMs     float64 `json:"pull_ms"`
}

// serverLink is the central parameter server's link (zero when the
// calibration has no point-to-point fit).
func (cal Calib) serverLink() scaling.Link {
	if cal.P2P.Samples == 0 {
		return scaling.Link{}
	}
	return scaling.Link{Name: "p2p", Alpha: cal.P2P.Alpha, Beta: cal.P2P.Beta, Gamma: cal.AddNsPerB * 1e-9}
}

type config struct {
	strategy  string
	bucketMiB float64
	overlap   bool
	strong    bool // batch per rank = global/N
}

func (c config) name() string {
	s := c.strategy
	if c.strategy == "allreduce" {
		s += fmt.Sprintf("/%gMiB", c.bucketMiB)
		if !c.overlap {
			s += "/no-overlap"
		}
	}
	if c.strong {
		s += "/strong"
	}
	return s
}

func algorithmOf(strat string) scaling.Algorithm {
	switch strat {
	case "central-ps":
		return scaling.CentralPS
	case "sharded-ps":
		return scaling.ShardedPS
	}
	return scaling.Ring
}

type settings struct {
	sizes          []int
	batch, global  int
	warmup, steps  int
	configs        []config
	computeBatches []int
	minB, maxB     int
	concurrent     bool // compute calibration on all ranks at once
	syncSteps      int  // synchronisation calibration: timed steps per round
}

// results gathers every round's measurements.
type results struct {
	mu        sync.Mutex
	backend   string
	link      []scaling.Sample
	compute   map[int]map[int][]scaling.StepSample // ranks -> batch -> rounds
	measured  map[string][]float64                 // key(config, ranks) -> rounds
	wait      map[string][]float64
	buckets   map[string][]float64
	own       map[string][]scaling.StepSample // key -> rounds, rank 0's own plain step
	mean      map[string][]scaling.StepSample // key -> rounds, the plain step's mean over the ranks
	sync      map[int][]syncCalib             // ranks -> rounds
	copyNs    map[int][][2]float64            // ranks -> rounds, ns per byte copied (at once, alone)
	p2p       map[int][]p2pCalib              // ranks -> rounds
	serverSum map[int][]serverSum             // ranks -> rounds
	gradB     float64
	threads   map[int]int // ranks -> threads per rank
}

func newResults() *results {
	return &results{compute: map[int]map[int][]scaling.StepSample{}, measured: map[string][]float64{},
		wait: map[string][]float64{}, buckets: map[string][]float64{}, threads: map[int]int{},
		own: map[string][]scaling.StepSample{}, mean: map[string][]scaling.StepSample{}, sync: map[int][]syncCalib{}, p2p: map[int][]p2pCalib{}, serverSum: map[int][]serverSum{}, copyNs: map[int][][2]float64{}}
}

func key(c config, n int) string { return c.name() + "@" + strconv.Itoa(n) }

func (r *results) addCompute(ranks int, ss []scaling.StepSample) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.compute[ranks] == nil {
		r.compute[ranks] = map[int][]scaling.StepSample{}
	}
	for _, s := range ss {
		r.compute[ranks][s.Batch] = append(r.compute[ranks][s.Batch], s)
	}
}

// oneWorld runs the link calibration and every configuration on one world
// of n ranks (in process for the local backend, or the world of mpirun).
func oneWorld(n int, st settings, res *results) error {
	if env, _ := collectives.ReadEnv(os.Getenv); env.Size > 1 {
		n = 1 // Launch joins mpirun's world
	}
	return parallel.Launch(context.Background(), n, func(ctx context.Context, c collectives.Comm) error {
		if st.concurrent {
			// Every rank computes at once, without communicating.
			if err := c.Barrier(ctx); err != nil {
				return err
			}
			ss := computeSamples(st.sizes, st.computeBatches, 0, 2, 8)
			if c.Rank() == 0 {
				res.addCompute(c.Size(), ss)
			}
			if err := c.Barrier(ctx); err != nil {
				return err
			}
		}
		cp, ca, err := copySamples(ctx, c, st.sizes, 2, 8)
		if err != nil {
			return fmt.Errorf("copy calibration: %w", err)
		}
		if c.Rank() == 0 {
			res.mu.Lock()
			res.copyNs[c.Size()] = append(res.copyNs[c.Size()], [2]float64{cp, ca})
			res.mu.Unlock()
		}
		sum, err := serverSumSamples(ctx, c, gradElems(st.sizes), 5)
		if err != nil {
			return fmt.Errorf("server reduction calibration: %w", err)
		}
		if c.Rank() == 0 {
			res.mu.Lock()
			res.serverSum[c.Size()] = append(res.serverSum[c.Size()], sum)
			res.mu.Unlock()
		}
		if c.Size() > 1 {
			sc, err := syncSamples(ctx, c, st.sizes, st.batch, 2, max(2, st.syncSteps))
			if err != nil {
				return fmt.Errorf("synchronisation calibration: %w", err)
			}
			ls, err := linkSamples(ctx, c, st.minB, st.maxB, 5)
			if err != nil {
				return err
			}
			pc, err := p2pSamples(ctx, c, st.minB, st.maxB, 5)
			if err != nil {
				return fmt.Errorf("point-to-point calibration: %w", err)
			}
			if c.Rank() == 0 {
				res.mu.Lock()
				res.link = append(res.link, ls...)
				res.sync[c.Size()] = append(res.sync[c.Size()], sc)
				res.p2p[c.Size()] = append(res.p2p[c.Size()], pc)
				res.mu.Unlock()
			}
		}
		for _, cf := range st.configs {
			b := st.batch
			if cf.strong {
				b = max(1, st.global/c.Size())
			}
			m, err := measureConfig(ctx, c, st.sizes, cf, b, st.warmup, st.steps)
			if err != nil {
				return fmt.Errorf("%s: %w", cf.name(), err)
			}
			if c.Rank() == 0 {
				res.mu.Lock()
				k := key(cf, c.Size())
				res.measured[k] = append(res.measured[k], m.ms)
				res.wait[k] = append(res.wait[k], m.waitMs)
				res.own[k] = append(res.own[k], m.own)
				res.mean[k] = append(res.mean[k], m.mean)
				res.buckets[k] = m.buckets
				res.gradB = m.gradBytes
				res.backend = c.Backend()
				res.mu.Unlock()
			}
		}
		return nil
	})
}

func threadsFor(n, cores int) int { return max(1, cores/n) }

// fit turns the rounds into the calibration.
func (r *results) fit(st settings, cores int) (Calib, error) {
	mode := "alone"
	if st.concurrent {
		mode = "concurrent"
	}
	cal := Calib{ComputeMode: mode, Backend: r.backend, Compute: map[int]scaling.Compute{}, Cores: cores, Sizes: st.sizes, GradB: r.gradB, Batch: st.batch, Global: st.global}
	if len(r.link) > 0 {
		l, err := scaling.FitLink(r.backend, medianSamples(r.link))
		if err != nil {
			return cal, err
		}
		cal.Link = l
	}
	if err := r.fitSync(&cal); err != nil {
		return cal, err
	}
	for n, rounds := range r.serverSum {
		if cal.ServerSum == nil {
			cal.ServerSum = map[int]serverSum{}
		}
		cal.ServerSum[n] = serverSum{
			CopyNsPerB:  medianBy(rounds, func(x serverSum) float64 { return x.CopyNsPerB }),
			AddNsPerB:   medianBy(rounds, func(x serverSum) float64 { return x.AddNsPerB }),
			ScaleNsPerB: medianBy(rounds, func(x serverSum) float64 { return x.ScaleNsPerB }),
		}
	}
	for n, rounds := range r.copyNs {
		if cal.CopyNsPerB == nil {
			cal.CopyNsPerB, cal.CopyAloneNsPerB = map[int]float64{}, map[int]float64{}
		}
		cal.CopyNsPerB[n] = medianBy(rounds, func(x [2]float64) float64 { return x[0] })
		cal.CopyAloneNsPerB[n] = medianBy(rounds, func(x [2]float64) float64 { return x[1] })
	}
	for n, byBatch := range r.compute {
		var ss []scaling.StepSample
		for b, rounds := range byBatch {
			s := medianStep(rounds)
			s.Batch = b
			ss = append(ss, s)
		}
		c, err := scaling.FitCompute(ss)
		if err != nil {
			return cal, err
		}
		cal.Compute[n] = c
	}
	return cal, nil
}

// medianSamples is the median over rounds of the samples of each (op,
// algorithm, ranks, bytes), in the order they first appear.
func medianSamples(samples []scaling.Sample) []scaling.Sample {
	type key struct {
		op    string
		alg   scaling.Algorithm
		ranks int
		bytes float64
	}
	groups := map[key][]float64{}
	var order []key
	for _, s := range samples {
		k := key{s.Op, s.Algorithm, s.Ranks, s.Bytes}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], s.Seconds)
	}
	out := make([]scaling.Sample, len(order))
	for i, k := range order {
		out[i] = scaling.Sample{Op: k.op, Algorithm: k.alg, Ranks: k.ranks, Bytes: k.bytes, Seconds: median(groups[k])}
	}
	return out
}

// fitSync adds the straggler and central-server calibrations to cal.
func (r *results) fitSync(cal *Calib) error {
	for n, rounds := range r.sync {
		sc := SyncCal{Steps: len(rounds[0].start)}
		var direct, waits, comps []float64
		for _, rd := range rounds {
			sc.Arrivals = append(sc.Arrivals, scaling.Arrivals(rd.start, rd.end)...)
			direct = append(direct, scaling.WithinStep(rd.start, rd.end))
			waits, comps = append(waits, rd.waitMs), append(comps, rd.computeMs)
		}
		sc.Factor = scaling.CostModel{Straggler: sc.Arrivals}.SyncFactor(n)
		sc.Direct, sc.WaitMs, sc.ComputeMs = median(direct), median(waits), median(comps)
		if cal.Sync == nil {
			cal.Sync = map[int]SyncCal{}
		}
		cal.Sync[n] = sc
	}
	var p2p []scaling.Sample
	var adds []float64
	for n, rounds := range r.p2p {
		var sr, push, pull []float64
		for _, rd := range rounds {
			p2p = append(p2p, rd.samples...)
			adds = append(adds, rd.addNsPerB)
			sr, push, pull = append(sr, rd.sendRecvMs), append(push, rd.pushMs), append(pull, rd.pullMs)
		}
		if cal.Server == nil {
			cal.Server = map[int]ServerCheck{}
		}
		cal.Server[n] = ServerCheck{Bytes: rounds[0].largestBytes, SendRecvMs: median(sr), PushMs: median(push), PullMs: median(pull)}
	}
	if len(p2p) == 0 {
		return nil
	}
	ss := medianSamples(p2p)
	// r.p2p is a map: fit in a fixed order.
	slices.SortFunc(ss, func(a, b scaling.Sample) int {
		return cmp.Or(cmp.Compare(a.Ranks, b.Ranks), cmp.Compare(a.Bytes, b.Bytes))
	})
	l, err := scaling.FitLink("p2p", ss)
	if err != nil {
		return fmt.Errorf("point-to-point link: %w", err)
	}
	cal.P2P = l
	cal.AddNsPerB = median(adds)
	return nil
}

// fitted is the fitted computation of a rank of an n-rank world.
func (cal Calib) fitted(n int) scaling.Compute {
	comp := cal.Compute[n]
	if cal.ComputeMode == "alone" {
		comp = comp.Scale(scaling.Oversubscription(n, threadsFor(n, cal.Cores), cal.Cores))
	}
	return comp
}

// paired is the computation measured beside a configuration (the median
// over rounds of the fastest step), as a Compute at that batch.
func paired(ss []scaling.StepSample) scaling.Compute {
	s := medianStep(ss)
	fb := s.Forward + s.Backward
	return scaling.Compute{PerSample: fb / float64(ss[0].Batch), BackwardShare: s.Backward / fb, Optimizer: s.Optimizer}
}

// medianStep is the median over rounds of each part of a step (forward,
// backward, update, apart), at the first round's batch.
func medianStep(ss []scaling.StepSample) scaling.StepSample {
	return scaling.StepSample{Batch: ss[0].Batch,
		Forward:   medianBy(ss, func(s scaling.StepSample) float64 { return s.Forward }),
		Backward:  medianBy(ss, func(s scaling.StepSample) float64 { return s.Backward }),
		Optimizer: medianBy(ss, func(s scaling.StepSample) float64 { return s.Optimizer })}
}

// copyPasses is how many times rank 0 passes over a vector of the model's
// gradient size per step outside the collectives and the backward pass, in
// parallel/strategy (Staleness 0, as here):
//
//   - allreduce (DDP): 0, the gradients are views of the buckets
//     (parallel/ddp/ddp.go, SetGradBuffer: gradient as bucket view);
//   - fusion: 2, the gradients copied into the fusion buffer before its
//     all-reduce and the result copied back (parallel/strategy/fusion.go,
//     flush and Step);
//   - sharded-ps: 1, the gathered flat parameters copied into the
//     parameters (ps.go, shardedPS.apply: scatterValues); the gradients
//     are sent from the flat gradient buffer itself (strategy.go, ring.take
//     at Staleness 0);
//   - central-ps, rank 0 (the server, whose step is measured): 3, its own
//     gradients copied into the average (ps.go, centralPS.apply:
//     avg.CopyFrom), the in-place scaling by 1/N (tensor.UnaryInto, one pass
//     that reads and writes the vector like a copy) and the parameters
//     copied into the flat vector sent back (gatherValues). Its additions of
//     the workers' gradients are the server link's γ; a worker's one copy
//     (scatterValues) falls after rank 0's step.
//
// The same at every world size, one rank included.
func copyPasses(strat string) float64 {
	switch strat {
	case "fusion":
		return 2
	case "sharded-ps":
		return 1
	case "central-ps":
		return 3
	}
	return 0
}

// selfCopies is the passes over the gradient a strategy's collectives make
// on one rank, where the α-β model's collectives cost nothing: the one-rank
// backend's reduce-scatter and all-gather copy their input to their output
// (collectives/self.go), so sharded-ps copies the gradient twice more; the
// all-reduces of DDP and fusion work in place (no copy), and central-ps
// sends nothing.
func selfCopies(strat string, n int) float64 {
	if n == 1 && strat == "sharded-ps" {
		return 2
	}
	return 0
}

// model is the cost model of n ranks on this machine. prev is the model of
// the previous measurement (commit 9856411), which differs in the one-rank
// copies of sharded-ps (selfCopies) and in the central server's prices: its
// additions at tensor.AddInto of a 16 MiB pair of vectors (AddNsPerB) and its
// copies at rank 0's copy alone (CopyAloneNsPerB), where the model now takes
// them from ServerSum, the reduction timed on the buffers central-ps uses
// (rows also gives prev rank 0's own compute, the model the mean over the
// ranks).
func (cal Calib) model(comp scaling.Compute, cf config, buckets []float64, n int, prev bool) scaling.CostModel {
	m := scaling.CostModel{Compute: comp, Link: cal.Link.Link, Algorithm: algorithmOf(cf.strategy), GradBytes: cal.GradB,
		Straggler: cal.Sync[n].Arrivals, ServerLink: cal.serverLink()}
	m.Cores, m.Threads = cal.Cores, threadsFor(n, cal.Cores)
	m.CopyBytes = copyPasses(cf.strategy) * cal.GradB
	if !prev {
		m.CopyBytes += selfCopies(cf.strategy, n) * cal.GradB
	}
	m.CopySecPerByte = cal.CopyNsPerB[n] * 1e-9
	if cf.strategy == "central-ps" {
		m.CopySecPerByte = cal.CopyAloneNsPerB[n] * 1e-9
		if s, ok := cal.ServerSum[n]; ok && !prev {
			// The copy of its own gradient, the scaling and the copy of
			// the parameters out, each priced as the first.
			m.CopySecPerByte = (2*s.CopyNsPerB + s.ScaleNsPerB) / 3 * 1e-9
			m.ServerLink.Gamma = s.AddNsPerB * 1e-9
		}
	}
	if cf.strategy == "allreduce" {
		m.BucketBytes = buckets
		m.Overlap = cf.overlap
	}
	return m
}

func (r *results) rows(st settings, cal Calib, worlds []int) []Row {
	var out []Row
	for _, n := range worlds {
		for _, cf := range st.configs {
			k := key(cf, n)
			ms := r.measured[k]
			if len(ms) == 0 {
				continue
			}
			b := st.batch
			if cf.strong {
				b = max(1, st.global/n)
			}
			// The ranks' mean compute (the plain step beside the
			// configuration) with the straggler term: SyncFactor is the
			// expected maximum over N ranks relative to their mean.
			mean := paired(r.mean[k])
			p := cal.model(mean, cf, r.buckets[k], n, false).Step(n, b)
			pp := cal.model(paired(r.own[k]), cf, r.buckets[k], n, true).Step(n, b)
			pf := cal.model(cal.fitted(n), cf, r.buckets[k], n, false).Step(n, b)
			row := Row{PredFitMs: 1e3 * pf.Total, MeasuredWaitMs: median(r.wait[k]), PredStraggleMs: 1e3 * p.Straggle, PredPrevMs: 1e3 * pp.Total, Config: cf.name(), Ranks: n, Backend: r.backend, PredictedMs: 1e3 * p.Total, MeasuredMs: median(ms),
				Strategy: cf.strategy, Overlap: cf.overlap, BatchPerRank: b, Threads: threadsFor(n, cal.Cores),
				PredComputeMs: 1e3 * (p.Forward + p.Backward + p.Optimizer), PredCommMs: 1e3 * p.Comm, PredExposedMs: 1e3 * p.Exposed, MeasuredReps: ms}
			if n == 1 {
				row.Backend = "single"
			}
			if cf.strategy == "allreduce" {
				row.BucketMiB = cf.bucketMiB
			}
			row.setErrors()
			out = append(out, row)
		}
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		v, err := strconv.Atoi(f)
		if err != nil || v < 1 {
			return nil, fmt.Errorf("bad number %q", f)
		}
		out = append(out, v)
	}
	return out, nil
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "scaling: "+format+"\n", args...)
	os.Exit(1)
}

func main() {
	ranksFlag := flag.String("ranks", "1,2,4", "in-process world sizes (local backend); under mpirun the world is mpirun's")
	sizesFlag := flag.String("sizes", "784-1024-1024-10", "MLP layer sizes")
	batch := flag.Int("batch", 64, "batch per rank (weak scaling)")
	global := flag.Int("global", 128, "global batch of the strong-scaling configuration (split over the ranks)")
	warmup := flag.Int("warmup", 2, "untimed steps per configuration")
	steps := flag.Int("steps", 8, "timed steps per configuration")
	reps := flag.Int("reps", 3, "rounds of calibration and measurement, alternating")
	stratFlag := flag.String("strategies", "allreduce,fusion,sharded-ps,central-ps", "strategies of parallel/strategy")
	bucketsFlag := flag.String("buckets", "1,25", "allreduce bucket caps in MiB")
	overlapFlag := flag.String("overlap", "on,off", "allreduce: overlap settings")
	minB := flag.Int("minbytes", 16<<10, "link calibration: smallest message")
	maxB := flag.Int("maxbytes", 16<<20, "link calibration: largest message")
	syncSteps := flag.Int("sync-steps", 16, "synchronisation calibration: timed steps per round (every rank computing at once between barriers)")
	computeMode := flag.String("compute", "concurrent", "compute calibration: concurrent (all ranks of the world at once, no communication) or alone (one rank, scaled by the oversubscription of the cores)")
	asJSON := flag.Bool("json", false, "one JSON object per configuration instead of the table")
	calibOut := flag.String("calib-out", "", "write the calibration (JSON) to this file")
	summarize := flag.String("summarize", "", "rows (-json output, comma-separated files): print the median over repetitions of each configuration (with -markdown, a Markdown table) and exit")
	markdown := flag.Bool("markdown", false, "with -summarize: a Markdown table")
	plotFrom := flag.String("plot", "", "rows (-json output, comma-separated files): draw the figures into -png and exit")
	calibIn := flag.String("calib", "", "with -plot: the calibration written by -calib-out")
	pngDir := flag.String("png", "docs/modules/img/scaling", "with -plot: the folder for the PNGs")
	flag.Parse()

	if *summarize != "" {
		rows, err := readRows(strings.Split(*summarize, ","))
		if err != nil {
			fail("%v", err)
		}
		printSummary(os.Stdout, summarizeRows(rows), *markdown)
		return
	}
	if *plotFrom != "" {
		if err := plotAll(strings.Split(*plotFrom, ","), *calibIn, *pngDir); err != nil {
			fail("%v", err)
		}
		return
	}
	st := settings{batch: *batch, global: *global, warmup: *warmup, steps: *steps, minB: *minB, maxB: *maxB,
		computeBatches: []int{16, 32, 64, 128}, concurrent: *computeMode == "concurrent", syncSteps: *syncSteps}
	if *computeMode != "concurrent" && *computeMode != "alone" {
		fail("-compute: want concurrent or alone")
	}
	var err error
	if st.sizes, err = parseInts(strings.ReplaceAll(*sizesFlag, "-", ",")); err != nil || len(st.sizes) < 2 {
		fail("-sizes: %v", err)
	}
	buckets := strings.Split(*bucketsFlag, ",")
	for _, s := range strings.Split(*stratFlag, ",") {
		if s == "allreduce" {
			for _, b := range buckets {
				v, err := strconv.ParseFloat(b, 64)
				if err != nil {
					fail("-buckets: %v", err)
				}
				for _, o := range strings.Split(*overlapFlag, ",") {
					st.configs = append(st.configs, config{strategy: s, bucketMiB: v, overlap: o == "on"})
				}
			}
			continue
		}
		st.configs = append(st.configs, config{strategy: s, overlap: false})
	}
	if *global > 0 {
		st.configs = append(st.configs, config{strategy: "allreduce", bucketMiB: 25, overlap: true, strong: true})
	}
	cores := runtime.GOMAXPROCS(0)
	env, _ := collectives.ReadEnv(os.Getenv)
	worlds := []int{env.Size}
	if env.Size <= 1 {
		if worlds, err = parseInts(*ranksFlag); err != nil {
			fail("-ranks: %v", err)
		}
	} else {
		cores = runtime.GOMAXPROCS(0) // every process sees the machine's cores
	}
	res := newResults()
	for rep := range *reps {
		for _, n := range worlds {
			th := threadsFor(n, cores)
			if env.Rank == 0 && !st.concurrent {
				// One rank alone: under mpirun the other ranks wait at the
				// first barrier of oneWorld meanwhile.
				res.addCompute(n, computeSamples(st.sizes, st.computeBatches, th, 2, 8))
			}
			if err := oneWorld(n, st, res); err != nil {
				fail("%d ranks: %v", n, err)
			}
			if env.Rank == 0 && !*asJSON {
				fmt.Fprintf(os.Stderr, "round %d/%d: %d ranks done\n", rep+1, *reps, n)
			}
		}
	}
	if env.Rank != 0 {
		return
	}
	cal, err := res.fit(st, cores)
	if err != nil {
		fail("calibration: %v", err)
	}
	rows := res.rows(st, cal, worlds)
	if *calibOut != "" {
		b, _ := json.MarshalIndent(cal, "", " ")
		if err := os.WriteFile(*calibOut, append(b, '\n'), 0o644); err != nil {
			fail("%v", err)
		}
	}
	if *asJSON {
		for _, r := range rows {
			b, _ := json.Marshal(r)
			fmt.Println(string(b))
		}
		return
	}
	printCalib(cal)
	printRows(rows)
}

// summarizeRows merges the repetitions of each (config, ranks, backend):
// the medians of the predicted and measured times, in first-seen order.
func summarizeRows(rows []Row) []Row {
	type k struct {
		c string
		n int
		b string
	}
	groups := map[k][]Row{}
	var order []k
	for _, r := range rows {
		key := k{r.Config, r.Ranks, r.Backend}
		if _, ok := groups[key]; !ok {
			order = append(order, key)
		}
		groups[key] = append(groups[key], r)
	}
	var out []Row
	for _, key := range order {
		g := groups[key]
		var p, m, c, e, w, sg, pp []float64
		for _, r := range g {
			p, m, c, e, w = append(p, r.PredictedMs), append(m, r.MeasuredMs), append(c, r.PredCommMs), append(e, r.PredExposedMs), append(w, r.MeasuredWaitMs)
			sg, pp = append(sg, r.PredStraggleMs), append(pp, r.PredPrevMs)
		}
		r := g[0]
		r.PredictedMs, r.MeasuredMs, r.PredCommMs, r.PredExposedMs, r.MeasuredWaitMs = median(p), median(m), median(c), median(e), median(w)
		r.PredStraggleMs, r.PredPrevMs = median(sg), median(pp)
		r.setErrors()
		r.MeasuredReps = m
		out = append(out, r)
	}
	return out
}

func printSummary(w io.Writer, rows []Row, markdown bool) {
	if !markdown {
		printRows(rows)
		return
	}
	fmt.Fprintln(w, "| config | ranks | backend | batch/rank | predicted ms | measured ms | error | pred. straggle ms | pred. comm ms | measured wait ms | previous model error | reps |")
	fmt.Fprintln(w, "|---|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
	within, worst, withinPrev, worstPrev := 0, 0.0, 0, 0.0
	for _, r := range rows {
		fmt.Fprintf(w, "| %s | %d | %s | %d | %.1f | %.1f | %+.0f %% | %.1f | %.1f | %.1f | %+.0f %% | %d |\n", r.Config, r.Ranks, r.Backend, r.BatchPerRank,
			r.PredictedMs, r.MeasuredMs, r.ErrorPct, r.PredStraggleMs, r.PredCommMs, r.MeasuredWaitMs, r.ErrorPrevPct, len(r.MeasuredReps))
		if math.Abs(r.ErrorPct) <= 20 {
			within++
		}
		if math.Abs(r.ErrorPrevPct) <= 20 {
			withinPrev++
		}
		worst = math.Max(worst, math.Abs(r.ErrorPct))
		worstPrev = math.Max(worstPrev, math.Abs(r.ErrorPrevPct))
	}
	fmt.Fprintf(w, "\n%d of %d configurations within 20 %%; largest |error| %.0f %%. The previous model on the same measurements: %d of %d, largest %.0f %%.\n",
		within, len(rows), worst, withinPrev, len(rows), worstPrev)
}

func printCalib(cal Calib) {
	if cal.Link.Samples > 0 {
		fmt.Printf("link (%s): %v\n", cal.Backend, cal.Link)
	}
	if cal.P2P.Samples > 0 {
		fmt.Printf("point-to-point (%s): %v; server addition %.3f ns/B\n", cal.Backend, cal.P2P, cal.AddNsPerB)
	}
	for n, ns := range cal.CopyNsPerB {
		a := cal.CopyAloneNsPerB[n]
		fmt.Printf("memory copy, %d rank(s): %.3f ns/B at once, %.3f alone (%.2f and %.2f ms per gradient of %.3g MB)\n", n, ns, a, ns*cal.GradB/1e6, a*cal.GradB/1e6, cal.GradB/1e6)
	}
	for n, s := range cal.Server {
		fmt.Printf("central server, %d ranks, %.3g MB: send-receive %.2f ms, push %.2f ms (%.1fx), pull %.2f ms (%.1fx)\n",
			n, s.Bytes/1e6, s.SendRecvMs, s.PushMs, s.PushMs/s.SendRecvMs, s.PullMs, s.PullMs/s.SendRecvMs)
	}
	for n, s := range cal.Sync {
		fmt.Printf("synchronisation, %d ranks: SyncFactor %.3f (within-step %.3f), rank 0 compute %.2f ms, barrier wait %.2f ms, %d arrivals\n",
			n, s.Factor, 1+s.Direct, s.ComputeMs, s.WaitMs, len(s.Arrivals))
	}
	for n, c := range cal.Compute {
		fmt.Printf("compute (%s, %d rank(s)): %.3f ms + %.4f ms/sample fwd+bwd (backward %.0f%%), optimizer %.3f ms; fit rms %.1f%%, max %.1f%%\n",
			cal.ComputeMode, n, 1e3*c.Fixed, 1e3*c.PerSample, 100*c.BackwardShare, 1e3*c.Optimizer, 100*c.RMSRel, 100*c.MaxRel)
	}
}

func printRows(rows []Row) {
	fmt.Printf("%-28s %5s %-7s %5s %8s %10s %10s %7s %9s %9s %9s %9s\n", "config", "ranks", "backend", "batch", "threads", "predicted", "measured", "err %", "pred comm", "exposed", "waited", "pred(fit)")
	worst := 0.0
	for _, r := range rows {
		fmt.Printf("%-28s %5d %-7s %5d %8d %10.2f %10.2f %+7.1f %9.2f %9.2f %9.2f %9.2f\n", r.Config, r.Ranks, r.Backend, r.BatchPerRank, r.Threads,
			r.PredictedMs, r.MeasuredMs, r.ErrorPct, r.PredCommMs, r.PredExposedMs, r.MeasuredWaitMs, r.PredFitMs)
		worst = math.Max(worst, math.Abs(r.ErrorPct))
	}
	fmt.Printf("largest |error|: %.1f%%\n", worst)
}
