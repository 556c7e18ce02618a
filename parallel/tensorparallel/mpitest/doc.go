// Package mpitest holds parallel/tensorparallel's acceptance tests under
// mpirun (one process per rank, the MPI backend): build with -tags mpi and
// run the test binary under mpirun, as `make test-mpi` does:
//
//	go test -tags mpi -c -o tensorparallel-mpi.test ./parallel/tensorparallel/mpitest
//	mpirun -np 4 --oversubscribe ./tensorparallel-mpi.test
//
// Without the tag the package has no tests.
package mpitest
