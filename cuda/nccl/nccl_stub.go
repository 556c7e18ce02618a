//go:build !(linux && cgo)

package nccl

import (
	"fmt"
	"unsafe"

	"github.com/tessera-ml/tessera/cuda"
	"github.com/tessera-ml/tessera/cuda/internal/dl"
)

type handle = unsafe.Pointer

func open(dl.Env) (api, error) {
	return nil, fmt.Errorf("%w: NCCL needs linux and cgo", cuda.ErrUnavailable)
}
