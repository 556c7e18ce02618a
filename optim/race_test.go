//go:build race

package optim_test

// raceEnabled reports a -race build, where the tiny-MLP step measures a
// few more allocations (152 against 143).
const raceEnabled = true
