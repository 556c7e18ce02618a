// Package trainer runs Byzantine-robust data-parallel training: n workers
// (ranks of a collectives.Comm), f of them Byzantine, each compute a
// gradient on their shard of the data; a server (rank 0) gathers the n
// vectors, lets the attacker replace the Byzantine ones, aggregates them
// with a robust rule in place of the all-reduce, and broadcasts the result,
// which every rank applies to its replica of the model.
//
// Per step the communication is one AllGather of the n flat gradients
// (n·d values to every rank) and one Broadcast of the aggregate (d). The
// workers send momentum: mᵢ ← β·mᵢ + (1−β)·gᵢ (worker momentum, as in
// Karimireddy et al. 2021, which the rules' guarantees rely on), and the
// server steps w ← w − η·Agg(m₁..mₙ).
//
// Train runs the workers as goroutines on the local backend; RunRank is one
// rank's loop on any Comm, so the same code runs under mpirun (one process
// per rank, collectives.Init). The model is the quickstart MLP on the
// embedded digits (data.DigitsSplit).
//
// The attacker is simulated at the server: it is omniscient, as in the
// literature, seeing the honest vectors before choosing its own.
package trainer
