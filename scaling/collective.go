package scaling

import (
	"fmt"
	"math"
	"strings"

	"github.com/tessera-ml/tessera/tensor"
)

// Link is the α-β-γ cost of communicating between ranks: sending a message
// of m bytes takes Alpha + m·Beta seconds, and reducing (adding) m bytes that
// arrived takes m·Gamma seconds on the receiving rank. Gamma belongs to the
// ranks' processors more than to the wire; the presets in Links assume a
// CPU that adds float32 at about 10 GB/s per rank (0.1 ns/byte), and NVLink a
// GPU (0.01 ns/byte).
type Link struct {
	Name  string
	Alpha float64 // latency, seconds per message
	Beta  float64 // inverse bandwidth, seconds per byte
	Gamma float64 // reduction, seconds per byte reduced
}

func (l Link) String() string {
	return fmt.Sprintf("%s (α=%.3g µs, β=%.3g ns/B = %.3g GB/s, γ=%.3g ns/B)",
		l.Name, l.Alpha*1e6, l.Beta*1e9, 1/(l.Beta*1e9), l.Gamma*1e9)
}

// The preset links: nominal line rates (bandwidth β = 8/rate) and typical
// one-way MPI latencies; they are what a datasheet promises, not a
// measurement.
var (
	Ethernet10G  = Link{Name: "10GbE", Alpha: 30e-6, Beta: 8 / 10e9, Gamma: 0.1e-9}
	Ethernet25G  = Link{Name: "25GbE", Alpha: 20e-6, Beta: 8 / 25e9, Gamma: 0.1e-9}
	Ethernet100G = Link{Name: "100GbE", Alpha: 10e-6, Beta: 8 / 100e9, Gamma: 0.1e-9}
	InfiniBand   = Link{Name: "IB HDR 200G", Alpha: 1.5e-6, Beta: 8 / 200e9, Gamma: 0.1e-9}
	NVLink       = Link{Name: "NVLink4 (450 GB/s)", Alpha: 2e-6, Beta: 1 / 450e9, Gamma: 0.01e-9}
)

// Links are the presets, slowest first.
var Links = []Link{Ethernet10G, Ethernet25G, Ethernet100G, InfiniBand, NVLink}

// Algorithm is how the gradients of the ranks are combined.
type Algorithm int

const (
	// Ring all-reduce: a reduce-scatter then an all-gather around a ring,
	// 2(p−1) messages of m/p bytes each (Patarasuk and Yuan 2009).
	Ring Algorithm = iota
	// Tree: a binomial-tree reduce to one rank then a binomial-tree
	// broadcast, 2⌈lg p⌉ steps of the whole message.
	Tree
	// RecursiveDoubling: ⌈lg p⌉ pairwise exchanges of the whole message
	// (Thakur et al. 2005; best for short messages).
	RecursiveDoubling
	// Rabenseifner: recursive-halving reduce-scatter then recursive-doubling
	// all-gather: the ring's bandwidth term with 2⌈lg p⌉ latencies.
	Rabenseifner
	// CentralPS: one parameter server (a rank) receives every other rank's
	// gradients and sends the parameters back, all through its own link.
	CentralPS
	// ShardedPS: every rank serves a 1/p slice (BigDL): a reduce-scatter and
	// an all-gather, the ring's cost.
	ShardedPS
)

var algorithmNames = []string{"ring", "tree", "recursive-doubling", "rabenseifner", "central-ps", "sharded-ps"}

func (a Algorithm) String() string {
	if a >= 0 && int(a) < len(algorithmNames) {
		return algorithmNames[a]
	}
	return fmt.Sprintf("Algorithm(%d)", int(a))
}

// ParseAlgorithm reads an Algorithm's name (as String writes it).
func ParseAlgorithm(s string) (Algorithm, error) {
	for i, n := range algorithmNames {
		if strings.EqualFold(s, n) {
			return Algorithm(i), nil
		}
	}
	return 0, fmt.Errorf("scaling: unknown algorithm %q (want one of %s)", s, strings.Join(algorithmNames, ", "))
}

// Cost is a collective's time as a combination of the link's parameters:
// A·α + B·β + G·γ seconds.
type Cost struct{ A, B, G float64 }

// Time is the cost on link l, in seconds.
func (c Cost) Time(l Link) float64 { return c.A*l.Alpha + c.B*l.Beta + c.G*l.Gamma }

func lg(p int) float64 { return math.Ceil(math.Log2(float64(p))) }

// AllReduceCost is the cost of an all-reduce of m bytes over p ranks with
// algorithm a (Thakur, Rabenseifner and Gropp 2005, for the bandwidth and
// reduction terms; the parameter servers' through the server's link):
//
//	ring, sharded-ps     2(p−1)α + 2(p−1)/p·mβ + (p−1)/p·mγ
//	rabenseifner         2⌈lg p⌉α + 2(p−1)/p·mβ + (p−1)/p·mγ
//	tree                 2⌈lg p⌉(α + mβ) + ⌈lg p⌉·mγ
//	recursive-doubling   ⌈lg p⌉(α + mβ + mγ)
//	central-ps           2(p−1)(α + mβ) + (p−1)·mγ
//
// One rank costs nothing. It panics on p < 1, m < 0 or an unknown algorithm.
func AllReduceCost(a Algorithm, p int, m float64) Cost {
	if p < 1 || m < 0 {
		panic(tensor.Errorf("scaling.AllReduceCost", "%d ranks, %g bytes", p, m))
	}
	if p == 1 {
		return Cost{}
	}
	q := float64(p - 1)
	f := q / float64(p)
	switch a {
	case Ring, ShardedPS:
		return Cost{A: 2 * q, B: 2 * f * m, G: f * m}
	case Rabenseifner:
		return Cost{A: 2 * lg(p), B: 2 * f * m, G: f * m}
	case Tree:
		return Cost{A: 2 * lg(p), B: 2 * lg(p) * m, G: lg(p) * m}
	case RecursiveDoubling:
		return Cost{A: lg(p), B: lg(p) * m, G: lg(p) * m}
	case CentralPS:
		return Cost{A: 2 * q, B: 2 * q * m, G: q * m}
	}
	panic(tensor.Errorf("scaling.AllReduceCost", "unknown algorithm %v", a))
}

// CollectiveCost is the cost of one collective in its ring form, for the
// operations a calibration measures (m is nccl-tests' size: the per-rank
// buffer for all-reduce and broadcast, the gathered output for all-gather,
// the input for reduce-scatter):
//
//	allreduce       AllReduceCost(a, p, m)
//	allgather       (p−1)α + (p−1)/p·mβ
//	reducescatter   (p−1)α + (p−1)/p·m(β+γ)
//	broadcast       ⌈lg p⌉(α + mβ) (binomial tree)
//	sendrecv        α + mβ
//
// It returns an error for any other operation.
func CollectiveCost(op string, a Algorithm, p int, m float64) (Cost, error) {
	if p < 1 || m < 0 {
		return Cost{}, fmt.Errorf("scaling: %s on %d ranks, %g bytes", op, p, m)
	}
	if p == 1 && op != "sendrecv" {
		return Cost{}, nil
	}
	q := float64(p - 1)
	f := q / float64(p)
	switch op {
	case "allreduce":
		return AllReduceCost(a, p, m), nil
	case "allgather":
		return Cost{A: q, B: f * m}, nil
	case "reducescatter":
		return Cost{A: q, B: f * m, G: f * m}, nil
	case "broadcast":
		return Cost{A: lg(p), B: lg(p) * m}, nil
	case "sendrecv":
		return Cost{A: 1, B: m}, nil
	}
	return Cost{}, fmt.Errorf("scaling: no cost formula for %q", op)
}
