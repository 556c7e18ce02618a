package data

import "math/bits"

// splitMix64 is the SplitMix64 generator (Steele, Lea and Flood, 2014). It
// is tiny, fast, and gives the same stream on every machine and Go version,
// which math/rand does not promise.
type splitMix64 struct{ s uint64 }

func (r *splitMix64) next() uint64 {
	r.s += 0x9e3779b97f4a7c15
	z := r.s
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// intn returns a uniform integer in [0, n) by Lemire's multiply-and-reject
// method, without bias. n must be positive.
func (r *splitMix64) intn(n int) int {
	un := uint64(n)
	hi, lo := bits.Mul64(r.next(), un)
	if lo < un {
		thresh := -un % un
		for lo < thresh {
			hi, lo = bits.Mul64(r.next(), un)
		}
	}
	return int(hi)
}

// mix64 is SplitMix64's output function applied to x (a bijection of uint64).
func mix64(x uint64) uint64 {
	r := splitMix64{x - 0x9e3779b97f4a7c15}
	return r.next()
}

// Permutation returns a permutation of 0..n-1 determined only by seed: a
// Fisher-Yates shuffle (from the last index down) driven by SplitMix64
// seeded with seed, with Lemire's unbiased bounded integers. The result is
// identical on every machine and Go version.
func Permutation(seed uint64, n int) []int {
	p := make([]int, n)
	for i := range p {
		p[i] = i
	}
	shuffle(seed, p)
	return p
}

func shuffle(seed uint64, p []int) {
	r := splitMix64{seed}
	for i := len(p) - 1; i > 0; i-- {
		j := r.intn(i + 1)
		p[i], p[j] = p[j], p[i]
	}
}

// epochSeed derives the shuffle seed of one epoch from a loader's seed.
func epochSeed(seed uint64, epoch int) uint64 {
	return seed ^ mix64(uint64(epoch)+1)
}
