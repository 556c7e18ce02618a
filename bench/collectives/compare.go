package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"strings"
)

func readRows(path string) ([]Row, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var rows []Row
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !strings.HasPrefix(line, "{") {
			continue
		}
		var r Row
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			return nil, fmt.Errorf("%s: %w", path, err)
		}
		rows = append(rows, r)
	}
	return rows, sc.Err()
}

// compareFiles prints, per all-reduce size, the Tessera MPI backend's time
// over the plain C MPI_Allreduce time.
func compareFiles(spec string) error {
	a, b, ok := strings.Cut(spec, ",")
	if !ok {
		return fmt.Errorf("-compare wants go.json,c.json")
	}
	goRows, err := readRows(a)
	if err != nil {
		return err
	}
	cRows, err := readRows(b)
	if err != nil {
		return err
	}
	cBy := map[int]Row{}
	for _, r := range cRows {
		if r.Op == "allreduce" {
			cBy[r.Bytes] = r
		}
	}
	fmt.Printf("# %12s %12s %12s %8s\n", "size(B)", "tessera(us)", "C MPI(us)", "ratio")
	worst := 0.0
	for _, r := range goRows {
		c, ok := cBy[r.Bytes]
		if r.Op != "allreduce" || !ok {
			continue
		}
		ratio := r.TimeUS / c.TimeUS
		worst = max(worst, ratio)
		fmt.Printf("  %12d %12.1f %12.1f %8.3f\n", r.Bytes, r.TimeUS, c.TimeUS, ratio)
	}
	fmt.Printf("# worst ratio %.3f (target <= 1.05)\n", worst)
	return nil
}
