package data

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"testing"
)

func FuzzIDX(f *testing.F) {
	f.Add(idxBytes(0x08, []uint32{2, 2, 3}, []byte{0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11}))
	f.Add(idxBytes(0x08, []uint32{3}, []byte{1, 2, 3}))
	f.Add(idxBytes(0x0D, []uint32{1, 1}, []byte{0x3f, 0x80, 0, 0}))
	f.Add(idxBytes(0x0B, []uint32{2}, []byte{0xff, 0xfe, 0, 1}))
	f.Add(idxBytes(0x0E, []uint32{0xffffffff, 0xffffffff}, nil))
	f.Add(gz(f, idxBytes(0x09, []uint32{2}, []byte{0x80, 0x7f})))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		x, err := ReadIDX(bytes.NewReader(in))
		if err != nil {
			return
		}
		if reflect.ValueOf(x.Data).Len() != x.Len() {
			t.Fatalf("%d elements for dims %v", reflect.ValueOf(x.Data).Len(), x.Dims)
		}
		var buf bytes.Buffer
		if err := WriteIDX(&buf, x); err != nil {
			t.Fatalf("WriteIDX: %v", err)
		}
		y, err := ReadIDX(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if x.Type != y.Type || !reflect.DeepEqual(x.Dims, y.Dims) || reflect.ValueOf(y.Data).Len() != x.Len() {
			t.Fatalf("round trip changed the array")
		}
	})
}

// FuzzCIFAR's inputs are at least one 3,073-byte record, which makes Go's
// minimisation of new inputs slow: run it with -fuzzminimizetime=1s.
func FuzzCIFAR(f *testing.F) {
	f.Add(cifarRecords(3))
	f.Add(cifarRecords(0, 9))
	f.Add(cifarRecords(1)[:100])
	f.Add(gz(f, cifarRecords(4)))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, in []byte) {
		ds, err := ReadCIFAR10(bytes.NewReader(in))
		if err != nil {
			return
		}
		if len(ds.X) != ds.Len()*cifarPixels {
			t.Fatalf("%d features for %d samples", len(ds.X), ds.Len())
		}
		for _, y := range ds.Y {
			if y < 0 || y > 9 {
				t.Fatalf("label %d", y)
			}
		}
	})
}

func FuzzCSV(f *testing.F) {
	f.Add([]byte("a,b,label\n1,2.5,0\n-3,4e1,2\n"), true, -1, false)
	f.Add([]byte("0,1,2\n3,4,5\n"), false, 0, false)
	f.Add([]byte("1,\"2\",3\n"), false, 1, true)
	f.Add([]byte("1,2\n3\n"), false, 5, false)
	f.Add([]byte("NaN,Inf,-0\n"), false, -1, false)
	f.Fuzz(func(t *testing.T, in []byte, header bool, label int, noLabel bool) {
		tab, err := ReadCSV(bytes.NewReader(in), CSVOptions{Header: header, LabelColumn: label, NoLabel: noLabel})
		if err != nil {
			return
		}
		if len(tab.X) != tab.Rows*tab.Cols {
			t.Fatalf("%d values for %d rows of %d columns", len(tab.X), tab.Rows, tab.Cols)
		}
		if !noLabel && len(tab.Y) != tab.Rows {
			t.Fatalf("%d labels for %d rows", len(tab.Y), tab.Rows)
		}
	})
}

func FuzzNPY(f *testing.F) {
	for _, c := range []struct {
		shape []int
		data  any
	}{
		{[]int{2, 3}, []float32{0, 1, 2, 3, 4, 5}},
		{[]int{2}, []int64{-1, 1}},
		{[]int{}, []float64{1}},
		{[]int{3}, []bool{true, false, true}},
		{[]int{2}, []Float16{0x3c00, 0x7c00}},
		{[]int{0}, []uint8{}},
	} {
		var buf bytes.Buffer
		if err := WriteNPY(&buf, c.shape, c.data); err != nil {
			f.Fatal(err)
		}
		f.Add(buf.Bytes())
	}
	files, _ := filepath.Glob(filepath.Join("testdata", "npy", "*.npy"))
	for _, p := range files {
		if b, err := os.ReadFile(p); err == nil {
			f.Add(b)
		}
	}
	f.Add(npyFile(1, "{'descr': '<i4', 'fortran_order': True, 'shape': (2, 2), }", make([]byte, 16)))
	f.Add(npyFile(3, "{'descr': '>f8', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Add(npyFile(2, "{'descr': '|O', 'fortran_order': False, 'shape': (1,), }", make([]byte, 8)))
	f.Fuzz(func(t *testing.T, in []byte) {
		a, err := ReadNPY(bytes.NewReader(in))
		if err != nil {
			return
		}
		if reflect.ValueOf(a.Data).Len() != a.Len() {
			t.Fatalf("%d elements for shape %v", reflect.ValueOf(a.Data).Len(), a.Shape)
		}
		var buf bytes.Buffer
		if err := WriteNPY(&buf, a.Shape, a.Data); err != nil {
			t.Fatalf("WriteNPY: %v", err)
		}
		b, err := ReadNPY(&buf)
		if err != nil {
			t.Fatalf("re-read: %v", err)
		}
		if a.DType != b.DType || !reflect.DeepEqual(a.Shape, b.Shape) || reflect.ValueOf(b.Data).Len() != a.Len() {
			t.Fatalf("round trip changed the array")
		}
	})
}
