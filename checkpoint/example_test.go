package checkpoint_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/tessera-ml/tessera/autograd"
	"github.com/tessera-ml/tessera/checkpoint"
	"github.com/tessera-ml/tessera/optim"
	"github.com/tessera-ml/tessera/tensor"
)

func Example() {
	w := autograd.Param(tensor.FromSlice([]float32{1, 2, 3}, 3))
	opt := optim.NewAdam([]*autograd.Var{w}, optim.Options{LR: 0.1})
	w.SetGrad(tensor.FromSlice([]float32{1, -1, 1}, 3))
	if err := opt.Step(); err != nil {
		panic(err)
	}
	dir, _ := os.MkdirTemp("", "ckpt")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "model.safetensors")
	model := map[string]*tensor.Tensor{"w": w.Value()}
	if err := checkpoint.Save(path, model, opt, checkpoint.Meta{Step: 1, Epoch: 0}); err != nil {
		panic(err)
	}

	// A fresh model and optimizer, restored from the file.
	w2 := autograd.Param(tensor.Zeros(tensor.Float32, 3))
	opt2 := optim.NewAdam([]*autograd.Var{w2}, optim.Options{})
	c, err := checkpoint.Load(path)
	if err != nil {
		panic(err)
	}
	if err := c.Restore(map[string]*tensor.Tensor{"w": w2.Value()}, opt2); err != nil {
		panic(err)
	}
	fmt.Println(c.Meta.Step, w2.Value().Float32s(), opt2.StepCount(w2), opt2.Groups()[0].LR)
	// Output: 1 [0.9 2.1 2.9] 1 0.1
}
