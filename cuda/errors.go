package cuda

import (
	"errors"
	"fmt"
)

// Result is a CUresult code from the CUDA driver API.
type Result int

// CUresult codes Tessera looks at (values from cuda.h, stable across
// releases).
const (
	Success                      Result = 0
	ErrorInvalidValue            Result = 1
	ErrorOutOfMemory             Result = 2
	ErrorNotInitialized          Result = 3
	ErrorDeinitialized           Result = 4
	ErrorStubLibrary             Result = 34
	ErrorInsufficientDriver      Result = 35
	ErrorNoDevice                Result = 100
	ErrorInvalidDevice           Result = 101
	ErrorInvalidImage            Result = 200
	ErrorInvalidContext          Result = 201
	ErrorInvalidPTX              Result = 218
	ErrorUnsupportedPTXVersion   Result = 222
	ErrorNotFound                Result = 500
	ErrorNotReady                Result = 600
	ErrorIllegalAddress          Result = 700
	ErrorLaunchOutOfResources    Result = 701
	ErrorLaunchFailed            Result = 719
	ErrorSystemDriverMismatch    Result = 803
	ErrorCompatNotSupportedOnDev Result = 804
	ErrorUnknown                 Result = 999

	// resultNoSymbol is Tessera's own code (not a CUresult) for a call whose
	// symbol the loaded library does not export.
	resultNoSymbol Result = 0x7e57_0001
)

var resultNames = map[Result]string{
	Success:                      "CUDA_SUCCESS",
	ErrorInvalidValue:            "CUDA_ERROR_INVALID_VALUE",
	ErrorOutOfMemory:             "CUDA_ERROR_OUT_OF_MEMORY",
	ErrorNotInitialized:          "CUDA_ERROR_NOT_INITIALIZED",
	ErrorDeinitialized:           "CUDA_ERROR_DEINITIALIZED",
	ErrorStubLibrary:             "CUDA_ERROR_STUB_LIBRARY",
	ErrorInsufficientDriver:      "CUDA_ERROR_INSUFFICIENT_DRIVER",
	ErrorNoDevice:                "CUDA_ERROR_NO_DEVICE",
	ErrorInvalidDevice:           "CUDA_ERROR_INVALID_DEVICE",
	ErrorInvalidImage:            "CUDA_ERROR_INVALID_IMAGE",
	ErrorInvalidContext:          "CUDA_ERROR_INVALID_CONTEXT",
	ErrorInvalidPTX:              "CUDA_ERROR_INVALID_PTX",
	ErrorUnsupportedPTXVersion:   "CUDA_ERROR_UNSUPPORTED_PTX_VERSION",
	ErrorNotFound:                "CUDA_ERROR_NOT_FOUND",
	ErrorNotReady:                "CUDA_ERROR_NOT_READY",
	ErrorIllegalAddress:          "CUDA_ERROR_ILLEGAL_ADDRESS",
	ErrorLaunchOutOfResources:    "CUDA_ERROR_LAUNCH_OUT_OF_RESOURCES",
	ErrorLaunchFailed:            "CUDA_ERROR_LAUNCH_FAILED",
	ErrorSystemDriverMismatch:    "CUDA_ERROR_SYSTEM_DRIVER_MISMATCH",
	ErrorCompatNotSupportedOnDev: "CUDA_ERROR_COMPAT_NOT_SUPPORTED_ON_DEVICE",
	ErrorUnknown:                 "CUDA_ERROR_UNKNOWN",
	resultNoSymbol:               "TESSERA_SYMBOL_NOT_FOUND",
}

// Sentinel errors, for errors.Is.
var (
	// ErrUnavailable: no usable CUDA (no driver library, no device, a stub
	// driver, cgo disabled, or not linux).
	ErrUnavailable = errors.New("cuda: no usable CUDA device")
	// ErrOutOfMemory: device memory is exhausted (CUDA_ERROR_OUT_OF_MEMORY,
	// CUBLAS_STATUS_ALLOC_FAILED, or the caching allocator gave up).
	ErrOutOfMemory = errors.New("cuda: out of memory")
	// ErrSymbolNotFound: the loaded library lacks an entry point Tessera
	// tried to call (an old driver or library).
	ErrSymbolNotFound = errors.New("cuda: symbol not found in loaded library")
)

// Error is a failed driver API call.
type Error struct {
	Call string // the driver entry point, e.g. "cuMemAlloc_v2"
	Code Result // the CUresult
	Name string // cuGetErrorName, e.g. "CUDA_ERROR_OUT_OF_MEMORY"
	Desc string // cuGetErrorString, e.g. "out of memory"
	Log  string // extra detail (the JIT error log of cuModuleLoadDataEx)
}

func (e *Error) Error() string {
	s := fmt.Sprintf("cuda: %s failed: %s (%d)", e.Call, e.Name, int(e.Code))
	if e.Desc != "" {
		s += ": " + e.Desc
	}
	if e.Log != "" {
		s += "\n" + e.Log
	}
	return s
}

// Is makes errors.Is(err, ErrOutOfMemory), errors.Is(err, ErrUnavailable)
// and errors.Is(err, ErrSymbolNotFound) work.
func (e *Error) Is(target error) bool {
	switch target {
	case ErrOutOfMemory:
		return e.Code == ErrorOutOfMemory
	case ErrUnavailable:
		switch e.Code {
		case ErrorNoDevice, ErrorStubLibrary, ErrorInsufficientDriver,
			ErrorSystemDriverMismatch, ErrorCompatNotSupportedOnDev:
			return true
		}
	case ErrSymbolNotFound:
		return e.Code == resultNoSymbol
	}
	return false
}

// newError builds an *Error, asking the driver for the name and text when
// possible.
func newError(api driverAPI, call string, r Result) error {
	if r == Success {
		return nil
	}
	e := &Error{Call: call, Code: r}
	if r == resultNoSymbol {
		e.Name = resultNames[r]
		e.Desc = "the loaded driver library does not export " + call
		return e
	}
	if api != nil {
		e.Name, e.Desc = api.errorText(r)
	}
	if e.Name == "" {
		if n, ok := resultNames[r]; ok {
			e.Name = n
		} else {
			e.Name = fmt.Sprintf("CUresult(%d)", int(r))
		}
	}
	return e
}
