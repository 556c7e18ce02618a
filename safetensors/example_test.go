package safetensors_test

import (
	"bytes"
	"fmt"

	"github.com/tessera-ml/tessera/safetensors"
)

func Example() {
	w, _ := safetensors.Encode([]float32{1, 2, 3, 4, 5, 6}, 2, 3)
	b, _ := safetensors.Encode([]int64{7, 8}, 2)
	var buf bytes.Buffer
	err := safetensors.Write(&buf, map[string]safetensors.TensorInfo{"w": w, "b": b},
		map[string]string{"format": "pt"})
	if err != nil {
		fmt.Println(err)
		return
	}

	f, err := safetensors.Read(&buf)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, name := range f.Names {
		t := f.Tensors[name]
		fmt.Println(name, t.DType, t.Shape)
	}
	vals, _ := safetensors.Decode[float32](f.Tensors["w"])
	fmt.Println(vals, f.Metadata["format"])
	// Output:
	// b I64 [2]
	// w F32 [2 3]
	// [1 2 3 4 5 6] pt
}
