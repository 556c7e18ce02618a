//go:build race

package main

// raceEnabled reports a -race build, where the tiny-MLP step measures a
// few more allocations (149 against 140).
const raceEnabled = true
