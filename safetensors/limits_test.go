package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/tessera-ml/tessera/internal/memtest"
)

// emptyEntries returns a file whose header holds n zero-size tensors, the
// shape of issue 11 item 12's 90 MB header of 1.7M entries, scaled down.
func emptyEntries(n int) []byte {
	var sb strings.Builder
	sb.WriteString("{")
	for i := range n {
		if i > 0 {
			sb.WriteString(",")
		}
		fmt.Fprintf(&sb, `"t%d":{"dtype":"F32","shape":[0],"data_offsets":[0,0]}`, i)
	}
	sb.WriteString("}")
	b := binary.LittleEndian.AppendUint64(nil, uint64(sb.Len()))
	return append(b, sb.String()...)
}

// TestHeaderParseIsLinear: parsing headers of 10k and 40k empty entries
// allocates in proportion (4 times the entries cost at most 4 x 1.6 times
// the bytes: slices and maps grow by doubling, so the ratio wobbles; a
// quadratic parser would give 16) and a bounded number of bytes per header
// byte (encoding/json's token reader allocated 29 bytes per header byte
// and took 55 s for 1.7M entries; this parser about 13).
func TestHeaderParseIsLinear(t *testing.T) {
	small, large := emptyEntries(10_000), emptyEntries(40_000)
	var err error
	as := memtest.Allocated(func() { _, err = Parse(small) })
	require.NoError(t, err)
	al := memtest.Allocated(func() { _, err = Parse(large) })
	require.NoError(t, err)
	t.Logf("10k entries: %.1f bytes/header byte; 40k: %.1f", float64(as)/float64(len(small)), float64(al)/float64(len(large)))
	require.LessOrEqual(t, float64(al), 4*1.6*float64(as))
	require.LessOrEqual(t, float64(al), 16*float64(len(large)), "bytes allocated per header byte")
	allocs := testing.AllocsPerRun(1, func() { _, err = Parse(large) })
	require.LessOrEqual(t, allocs, 8.0*40_000, "allocations per entry")
}

// TestLimits: a header over Limits.Tensors, a shape over Limits.Rank and a
// header over Limits.HeaderSize are errors wrapping ErrInvalid that name
// the limit, from Parse and Read alike; within the limits the file reads.
func TestLimits(t *testing.T) {
	lim := Limits{HeaderSize: 1 << 20, Tensors: 100, Rank: 4}
	ok := emptyEntries(100)
	_, err := ParseLimits(ok, lim)
	require.NoError(t, err)
	_, err = ReadLimits(bytes.NewReader(ok), lim)
	require.NoError(t, err)

	many := emptyEntries(101)
	deep := file(`{"a":{"dtype":"U8","shape":[1,1,1,1,1],"data_offsets":[0,1]}}`, true, []byte{7})
	for _, c := range []struct {
		in  []byte
		lim Limits
		msg string
	}{
		{many, lim, "more than 100 tensors"},
		{deep, lim, "more than 4 elements"},
		{ok, Limits{HeaderSize: 1000, Tensors: 100, Rank: 4}, "exceeds the limit of 1000"},
	} {
		_, err := ParseLimits(c.in, c.lim)
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, c.msg)
		_, err = ReadLimits(bytes.NewReader(c.in), c.lim)
		require.ErrorIs(t, err, ErrInvalid)
		require.ErrorContains(t, err, c.msg)
	}
	_, err = Parse(deep)
	require.NoError(t, err, "rank 5 is within DefaultLimits")
	nested := file(`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":`+strings.Repeat("[", 100)+strings.Repeat("]", 100)+`}}`, true, []byte{7})
	_, err = Parse(nested)
	require.ErrorContains(t, err, "nested deeper")
}

// TestHeaderJSON: the hand-written header parser reads escapes (also
// surrogate pairs), unknown fields of any kind, and whitespace the way
// encoding/json does, and rejects what is not JSON.
func TestHeaderJSON(t *testing.T) {
	f, err := Parse(file(" \t\n"[0:0]+`{ "__metadata__" : { "k\"\u00e9\ud83d\ude00" : "v\n" } ,`+
		`"a\/b" : { "extra" : [ {"x": [1, -2.5e3, true, false, null]}, "s" ], "dtype" : "U8" , "shape" : [ 1 ] , "data_offsets" : [ 0 , 1 ] } }  `, true, []byte{9}))
	require.NoError(t, err)
	require.Equal(t, "v\n", f.Metadata["k\"é😀"])
	require.Equal(t, []byte{9}, f.Tensors["a/b"].Data)
	for _, bad := range []string{
		`{"a":{"dtype":"U8","shape":[01],"data_offsets":[0,1]}}`,
		`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1],"x":tru}}`,
		`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},}`,
		`{"a":{"dtype":"U8","shape":[1,],"data_offsets":[0,1]}}`,
		`{"a\q":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}}`,
		"{\"a\x01\":{\"dtype\":\"U8\",\"shape\":[1],\"data_offsets\":[0,1]}}",
		`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]}`,
	} {
		_, err := Parse(file(bad, true, []byte{9}))
		require.ErrorIs(t, err, ErrInvalid, bad)
	}
}
