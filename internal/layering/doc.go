// Package layering holds the test that keeps the module's import graph to the
// layering docs/ARCHITECTURE.md draws: layering_test.go has the table of which
// package may import which (the page prints the same table, and the test
// checks that they agree), lists every package of the module with `go list`
// under each build configuration that selects different files, and fails on
// an import the table does not allow or on a package it does not name.
package layering
