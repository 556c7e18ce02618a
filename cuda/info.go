package cuda

import (
	"fmt"
	"strings"
)

// InfoReport describes the CUDA installation as Tessera sees it.
type InfoReport struct {
	Available     bool
	Reason        string // why not, when !Available
	DriverVersion int    // cuDriverGetVersion, e.g. 13000 for CUDA 13.0
	DriverLibrary string // the libcuda file loaded (also when cuInit failed)
	BlasVersion   string // "13.0.2", empty when cuBLAS was not found
	BlasLibrary   string
	BlasError     string
	NCCLVersion   int // ncclGetVersion (e.g. 22703), 0 when not found
	NCCLLibrary   string
	NCCLError     string
	Devices       []Properties
}

// ncclInfoHook lets package cuda/nccl report its version in Info without an
// import cycle (it registers itself in its init).
var ncclInfoHook func() (version int, path string, err error)

// RegisterNCCLInfo is called by package cuda/nccl; not for general use.
func RegisterNCCLInfo(f func() (int, string, error)) { ncclInfoHook = f }

// Info loads what can be loaded and reports versions, libraries and
// devices. It never fails: problems are described in the report.
func Info() InfoReport {
	var rep InfoReport
	rep.DriverLibrary = driverLibPath
	if api, err := driver(); err != nil {
		rep.Reason = err.Error()
		rep.BlasError = "not loaded: the driver is unavailable"
	} else {
		rep.DriverLibrary = api.libraryPath()
		rep.DriverVersion, _ = api.driverVersion()
		n, r := api.deviceCount()
		if r != Success {
			rep.Reason = newError(api, "cuDeviceGetCount", r).Error()
		}
		for i := 0; i < n; i++ {
			dev, r := api.deviceGet(i)
			if r != Success {
				continue
			}
			if p, err := queryProperties(api, i, dev); err == nil {
				rep.Devices = append(rep.Devices, p)
			}
		}
		rep.Available = len(rep.Devices) > 0
		if !rep.Available && rep.Reason == "" {
			rep.Reason = "the driver reports no devices"
		}
		if ma, mi, pa, path, err := BlasVersion(); err != nil {
			rep.BlasError = err.Error()
			rep.BlasLibrary = path
		} else {
			rep.BlasVersion = fmt.Sprintf("%d.%d.%d", ma, mi, pa)
			rep.BlasLibrary = path
		}
	}
	if ncclInfoHook != nil {
		v, path, err := ncclInfoHook()
		rep.NCCLVersion, rep.NCCLLibrary = v, path
		if err != nil {
			rep.NCCLError = err.Error()
		}
	} else {
		rep.NCCLError = "package cuda/nccl not linked in"
	}
	return rep
}

// String formats the report for logs.
func (r InfoReport) String() string {
	var b strings.Builder
	if !r.Available {
		fmt.Fprintf(&b, "CUDA unavailable: %s\n", r.Reason)
	}
	if r.DriverVersion != 0 {
		fmt.Fprintf(&b, "driver: CUDA %d.%d (%s)\n", r.DriverVersion/1000, r.DriverVersion%1000/10, r.DriverLibrary)
	} else if r.DriverLibrary != "" {
		fmt.Fprintf(&b, "driver library: %s\n", r.DriverLibrary)
	}
	if r.BlasVersion != "" {
		fmt.Fprintf(&b, "cuBLAS: %s (%s)\n", r.BlasVersion, r.BlasLibrary)
	} else if r.BlasError != "" {
		fmt.Fprintf(&b, "cuBLAS: not loaded: %s\n", r.BlasError)
	}
	if r.NCCLVersion != 0 {
		fmt.Fprintf(&b, "NCCL: %d (%s)\n", r.NCCLVersion, r.NCCLLibrary)
	} else if r.NCCLError != "" {
		fmt.Fprintf(&b, "NCCL: not loaded: %s\n", r.NCCLError)
	}
	for _, d := range r.Devices {
		fmt.Fprintf(&b, "device %d: %s, compute %d.%d, %d SMs, %.1f GiB\n",
			d.Ordinal, d.Name, d.Major, d.Minor, d.MultiProcessors, float64(d.TotalMem)/(1<<30))
	}
	return b.String()
}
