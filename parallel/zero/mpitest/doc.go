// Package mpitest holds parallel/zero's acceptance tests under mpirun (one
// process per rank, the MPI backend): build with -tags mpi and run the
// test binary under mpirun, as `make test-mpi` does:
//
//	go test -tags mpi -c -o zero-mpi.test ./parallel/zero/mpitest
//	mpirun -np 4 --oversubscribe ./zero-mpi.test
//
// Without the tag the package has no tests.
package mpitest
