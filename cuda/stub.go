//go:build !(linux && cgo)

package cuda

import (
	"fmt"

	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

// In this build (not linux, or CGO_ENABLED=0) CUDA cannot be loaded: every
// entry point reports ErrUnavailable.

func openDriver(dl.Env) (driverAPI, error) {
	return nil, fmt.Errorf("%w: this binary was built without cgo or not for linux (CUDA needs linux && cgo)", ErrUnavailable)
}

func openBlas(dl.Env) (blasAPI, error) {
	_, err := openDriver(dl.Env{})
	return nil, err
}
