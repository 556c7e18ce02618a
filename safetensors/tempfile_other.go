//go:build !unix

package safetensors

// processGone cannot tell on this platform: only StaleTempAge applies.
func processGone(pid int) bool { return false }
