package safetensors

import "slices"

// dtypeInfo describes one safetensors dtype: its element width in bits and
// its rank in the reference implementation's alignment order (the order of
// the Rust crate's Dtype enum, smallest alignment first).
type dtypeInfo struct {
	bits int
	rank int
}

// dtypes lists every dtype of the published format, in the order of the
// reference Rust crate's Dtype enum (increasing alignment). The writer sorts
// tensors by descending rank, then by name, as that crate does.
var dtypes = map[string]dtypeInfo{
	"BOOL":        {8, 0},
	"F4":          {4, 1},
	"F6_E2M3":     {6, 2},
	"F6_E3M2":     {6, 3},
	"U8":          {8, 4},
	"I8":          {8, 5},
	"F8_E5M2":     {8, 6},
	"F8_E4M3":     {8, 7},
	"F8_E8M0":     {8, 8},
	"F8_E4M3FNUZ": {8, 9},
	"F8_E5M2FNUZ": {8, 10},
	"I16":         {16, 11},
	"U16":         {16, 12},
	"F16":         {16, 13},
	"BF16":        {16, 14},
	"I32":         {32, 15},
	"U32":         {32, 16},
	"F32":         {32, 17},
	"C64":         {64, 18},
	"F64":         {64, 19},
	"I64":         {64, 20},
	"U64":         {64, 21},
}

// DTypeBits returns the width in bits of one element of the named dtype
// ("F32" is 32, "F4" is 4) and whether the dtype is known.
func DTypeBits(dtype string) (int, bool) {
	d, ok := dtypes[dtype]
	return d.bits, ok
}

// DTypes returns the names of all dtypes this package reads and writes.
func DTypes() []string {
	out := make([]string, 0, len(dtypes))
	for k := range dtypes {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}
