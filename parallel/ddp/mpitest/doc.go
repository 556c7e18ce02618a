// Package mpitest holds parallel/ddp's acceptance tests under mpirun (one
// process per rank, the MPI backend): build with -tags mpi and run the
// test binary under mpirun, as `make test-mpi` does:
//
//	go test -tags mpi -c -o ddp-mpi.test ./parallel/ddp/mpitest
//	mpirun -np 3 --oversubscribe ./ddp-mpi.test
//
// Without the tag the package has no tests.
package mpitest
