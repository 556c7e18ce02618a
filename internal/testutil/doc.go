// Package testutil holds helpers shared by Tessera's tests. RequireGPU
// makes a GPU test skip on a machine without a usable CUDA device and fail
// when TESSERA_REQUIRE_GPU=1, so a GPU run cannot pass by skipping:
//
//	func TestSomethingOnGPU(t *testing.T) {
//		d := testutil.RequireGPU(t) // *cuda.Device 0
//		...
//	}
package testutil
