//go:build race

package meta

// raceEnabled reports a -race build: the long end-to-end test is skipped
// there (the concurrency it would check is covered by the short tests).
const raceEnabled = true
