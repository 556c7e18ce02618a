package collectives

import (
	"context"
	"fmt"
	"os"
	"slices"
	"strconv"
	"sync"
)

// Opener opens a backend for rank of size ranks; backends register one
// with Register (package collectives/mpi does so from init when built with
// the mpi tag).
type Opener func(ctx context.Context, rank, size int) (Backend, error)

var (
	regMu    sync.Mutex
	registry = map[string]Opener{}
)

// Register makes a backend available to Init under name.
func Register(name string, open Opener) {
	regMu.Lock()
	defer regMu.Unlock()
	if _, dup := registry[name]; dup {
		panic("collectives.Register: backend " + name + " registered twice")
	}
	registry[name] = open
}

// Backends lists the registered backend names ("self" is always there).
func Backends() []string {
	regMu.Lock()
	defer regMu.Unlock()
	out := []string{"self"}
	for k := range registry {
		out = append(out, k)
	}
	slices.Sort(out[1:])
	return out
}

// Env is the launch environment Init reads.
type Env struct {
	Rank, Size int
	// LocalRank and LocalSize place the rank among the ranks of its
	// machine (LocalSize 0: the launcher did not say), e.g. to pick a GPU
	// or a share of the cores.
	LocalRank, LocalSize int
	Backend              string // TESSERA_BACKEND, or chosen from the launcher
	Launcher             string // "mpirun", "srun" (Slurm with PMIx), "env" (RANK/WORLD_SIZE) or "none"
}

// ReadEnv reads the rank and size from OMPI_COMM_WORLD_RANK/SIZE (set by
// Open MPI's mpirun), else from SLURM_PROCID/SLURM_NTASKS when PMIX_RANK
// is set too (a step started by `srun --mpi=pmix`; a batch script's own
// shell, which has the first two but not PMIX_RANK, is no rank of a
// job), else RANK/WORLD_SIZE (torchrun style), else rank 0 of 1; the local
// rank and size from OMPI_COMM_WORLD_LOCAL_RANK/SIZE, SLURM_LOCALID and
// SLURM_NTASKS_PER_NODE, or LOCAL_RANK/LOCAL_WORLD_SIZE, matching the
// launcher; and the backend from TESSERA_BACKEND, else "mpi" under
// mpirun or srun or a world larger than one, else "self".
func ReadEnv(getenv func(string) string) (Env, error) {
	e := Env{Size: 1, Launcher: "none"}
	get := func(rk, sk, launcher string) error {
		r, s := getenv(rk), getenv(sk)
		if r == "" && s == "" {
			return nil
		}
		var err1, err2 error
		e.Rank, err1 = strconv.Atoi(r)
		e.Size, err2 = strconv.Atoi(s)
		if err1 != nil || err2 != nil || e.Size < 1 || e.Rank < 0 || e.Rank >= e.Size {
			return fmt.Errorf("collectives: bad %s=%q %s=%q", rk, r, sk, s)
		}
		e.Launcher = launcher
		return nil
	}
	local := func(rk, sk string) error {
		r, s := getenv(rk), getenv(sk)
		if s != "" {
			n, err := strconv.Atoi(s)
			if err != nil || n < 1 || n > e.Size {
				return fmt.Errorf("collectives: bad %s=%q", sk, s)
			}
			e.LocalSize = n
		}
		if r != "" {
			n, err := strconv.Atoi(r)
			if err != nil || n < 0 || (e.LocalSize > 0 && n >= e.LocalSize) {
				return fmt.Errorf("collectives: bad %s=%q", rk, r)
			}
			e.LocalRank = n
		}
		return nil
	}
	if err := get("OMPI_COMM_WORLD_RANK", "OMPI_COMM_WORLD_SIZE", "mpirun"); err != nil {
		return e, err
	}
	if e.Launcher == "none" && getenv("PMIX_RANK") != "" {
		if err := get("SLURM_PROCID", "SLURM_NTASKS", "srun"); err != nil {
			return e, err
		}
	}
	if e.Launcher == "none" {
		if err := get("RANK", "WORLD_SIZE", "env"); err != nil {
			return e, err
		}
	}
	var err error
	switch e.Launcher {
	case "mpirun":
		err = local("OMPI_COMM_WORLD_LOCAL_RANK", "OMPI_COMM_WORLD_LOCAL_SIZE")
	case "srun":
		err = local("SLURM_LOCALID", "SLURM_NTASKS_PER_NODE")
	case "env":
		err = local("LOCAL_RANK", "LOCAL_WORLD_SIZE")
	case "none":
		e.LocalSize = 1
	}
	if err != nil {
		return e, err
	}
	e.Backend = getenv("TESSERA_BACKEND")
	if e.Backend == "" {
		e.Backend = "self"
		if e.Launcher == "mpirun" || e.Launcher == "srun" || e.Size > 1 {
			e.Backend = "mpi"
		}
	}
	return e, nil
}

// Init returns the world communicator of a launched job: under
// `mpirun -np 4 ./prog` the MPI backend (import
// github.com/tessera-ml/tessera/collectives/mpi and build with -tags mpi),
// and a single-rank "self" communicator for a program started on its own.
// See ReadEnv for the variables it reads.
func Init(ctx context.Context) (Comm, error) {
	e, err := ReadEnv(os.Getenv)
	if err != nil {
		return nil, err
	}
	if e.Backend == "self" {
		if e.Size != 1 {
			return nil, fmt.Errorf("collectives: backend self cannot run %d ranks", e.Size)
		}
		return New(newSelf()), nil
	}
	regMu.Lock()
	open := registry[e.Backend]
	regMu.Unlock()
	if open == nil {
		hint := ""
		if e.Backend == "mpi" {
			hint = `: import _ "github.com/tessera-ml/tessera/collectives/mpi" and build with -tags mpi`
		}
		return nil, fmt.Errorf("collectives: backend %q (launcher %s, rank %d of %d) is not linked in%s",
			e.Backend, e.Launcher, e.Rank, e.Size, hint)
	}
	b, err := open(ctx, e.Rank, e.Size)
	if err != nil {
		return nil, err
	}
	return New(b), nil
}
