//go:build race

package tensorparallel_test

// raceEnabled: the race detector is on (a subset of the grids runs).
const raceEnabled = true
