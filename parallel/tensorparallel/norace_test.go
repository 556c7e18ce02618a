//go:build !race

package tensorparallel_test

const raceEnabled = false
