package testutil

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

// fakeTB records Skip/Fatal without stopping the calling goroutine's test.
type fakeTB struct {
	testing.TB
	skipped, failed bool
}

func (f *fakeTB) Helper()               {}
func (f *fakeTB) Skipf(string, ...any)  { f.skipped = true }
func (f *fakeTB) Fatalf(string, ...any) { f.failed = true }

func TestRequireGPUProbe(t *testing.T) {
	t.Setenv(RequireGPUEnv, "")
	f := &fakeTB{TB: t}
	RequireGPUProbe(f, func() error { return errors.New("none") })
	assert.True(t, f.skipped)
	assert.False(t, f.failed)

	t.Setenv(RequireGPUEnv, "1")
	f = &fakeTB{TB: t}
	RequireGPUProbe(f, func() error { return errors.New("none") })
	assert.True(t, f.failed)

	f = &fakeTB{TB: t}
	RequireGPUProbe(f, func() error { return nil })
	assert.False(t, f.skipped || f.failed)
}
