package nccl

import (
	"errors"
	"fmt"

	"github.com/tessera-ml/tessera/collectives"
	"github.com/tessera-ml/tessera/cuda"
	cnccl "github.com/tessera-ml/tessera/cuda/nccl"
	"github.com/tessera-ml/tessera/tensor"
)

// ncclResult_t codes the mapping distinguishes (stable in NCCL 2.x).
const (
	codeInvalidArgument = 4
	codeInvalidUsage    = 5
)

// DataType returns NCCL's type for dt. Bool travels as uint8 (0/1).
func DataType(dt tensor.DType) (cnccl.DataType, error) {
	switch dt {
	case tensor.Float32:
		return cnccl.Float32, nil
	case tensor.Float64:
		return cnccl.Float64, nil
	case tensor.Float16:
		return cnccl.Float16, nil
	case tensor.BFloat16:
		return cnccl.Bfloat16, nil
	case tensor.Int32:
		return cnccl.Int32, nil
	case tensor.Int64:
		return cnccl.Int64, nil
	case tensor.Bool:
		return cnccl.Uint8, nil
	}
	return 0, fmt.Errorf("%w: nccl: no NCCL type for %s", collectives.ErrInvalid, dt)
}

// RedOp returns NCCL's operator for op on dt: on Bool (uint8 0/1) Sum and
// Max are Max (OR) and Prod and Min are Min (AND); Avg is ncclAvg (NCCL
// >= 2.10), an error on Bool.
func RedOp(op collectives.RedOp, dt tensor.DType) (cnccl.RedOp, error) {
	if dt == tensor.Bool {
		switch op {
		case collectives.Sum, collectives.Max:
			return cnccl.Max, nil
		case collectives.Prod, collectives.Min:
			return cnccl.Min, nil
		}
		return 0, fmt.Errorf("%w: nccl: %s of bool tensors", collectives.ErrInvalid, op)
	}
	switch op {
	case collectives.Sum:
		return cnccl.Sum, nil
	case collectives.Avg:
		return cnccl.Avg, nil
	case collectives.Prod:
		return cnccl.Prod, nil
	case collectives.Min:
		return cnccl.Min, nil
	case collectives.Max:
		return cnccl.Max, nil
	}
	return 0, fmt.Errorf("%w: nccl: unknown reduction %v", collectives.ErrInvalid, op)
}

// MapError turns an error of an NCCL or CUDA call made by rank for call k
// into the collectives error vocabulary, keeping the original in the
// chain: ncclInvalidArgument and ncclInvalidUsage wrap ErrInvalid; a
// peer's failure (ncclRemoteError) wraps ErrAborted; a missing GPU or
// library keeps cuda.ErrUnavailable; anything else is wrapped as is. The
// message names the rank and the call.
func MapError(rank int, k collectives.Kind, err error) error {
	if err == nil {
		return nil
	}
	var ne *cnccl.Error
	switch {
	case errors.Is(err, cnccl.ErrRemote):
		return fmt.Errorf("rank %d: %s: a peer failed: %w: %w", rank, k, collectives.ErrAborted, err)
	case errors.As(err, &ne) && (ne.Code == codeInvalidArgument || ne.Code == codeInvalidUsage):
		return fmt.Errorf("rank %d: %s: %w: %w", rank, k, collectives.ErrInvalid, err)
	case errors.Is(err, cuda.ErrUnavailable):
		return fmt.Errorf("rank %d: %s: %w", rank, k, err)
	}
	return fmt.Errorf("rank %d: %s: %w", rank, k, err)
}
