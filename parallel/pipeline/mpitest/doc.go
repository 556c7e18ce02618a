// Package mpitest holds parallel/pipeline's acceptance tests under mpirun
// (one process per pipeline rank, the MPI backend): build with -tags mpi
// and run the test binary under mpirun, as `make test-mpi` does:
//
//	go test -tags mpi -c -o pipeline-mpi.test ./parallel/pipeline/mpitest
//	mpirun -np 4 --oversubscribe ./pipeline-mpi.test
//
// Without the tag the package has no tests.
package mpitest
