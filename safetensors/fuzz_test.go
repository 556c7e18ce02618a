package safetensors

import (
	"bytes"
	"testing"
)

func FuzzParse(f *testing.F) {
	a, _ := Encode([]float32{1, 2, 3, 4}, 2, 2)
	b, _ := Encode([]int64{5}, 1)
	c, _ := Encode([]uint8{}, 0)
	seed, _ := Marshal(map[string]TensorInfo{"a": a, "b": b, "c": c}, map[string]string{"k": "v"})
	f.Add(seed)
	empty, _ := Marshal(nil, nil)
	f.Add(empty)
	f.Add(file(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"U8","shape":[],"data_offsets":[8,9]}}`, true, make([]byte, 9)))
	f.Add(file(`{"a":{"dtype":"F4","shape":[2],"data_offsets":[0,1]}}`, true, []byte{0x21}))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		file, err := Parse(in)
		file2, err2 := Read(bytes.NewReader(in))
		if (err == nil) != (err2 == nil) {
			t.Fatalf("Parse err %v, Read err %v", err, err2)
		}
		if err != nil {
			return
		}
		if len(file.Tensors) != len(file2.Tensors) {
			t.Fatalf("Parse and Read disagree")
		}
		// A valid file re-encodes to a valid file with the same contents.
		out, err := Marshal(file.Tensors, file.Metadata)
		if err != nil {
			t.Fatalf("re-marshal: %v", err)
		}
		again, err := Parse(out)
		if err != nil {
			t.Fatalf("re-parse: %v", err)
		}
		for name, ti := range file.Tensors {
			tj, ok := again.Tensors[name]
			if !ok || tj.DType != ti.DType || !bytes.Equal(tj.Data, ti.Data) || len(tj.Shape) != len(ti.Shape) {
				t.Fatalf("tensor %q changed in round trip", name)
			}
		}
	})
}
