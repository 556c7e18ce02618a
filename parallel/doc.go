// Package parallel holds what the distributed trainers share: checking
// that every rank built the same model (VerifyModel), copying rank 0's
// state to every rank (BroadcastModule), a global gradient-norm clip over
// ranks (ClipGradNorm) and the traffic formulas of the synchronisation
// schemes. The trainers are its subpackages: parallel/ddp (PyTorch-style
// data parallelism with gradient buckets) and parallel/strategy (Horovod
// tensor fusion, parameter servers, bounded-staleness SGD).
package parallel
