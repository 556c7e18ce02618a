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
	// Repeated runs (mpi.sh alternates the two programs) are reduced to
	// the best time per size, the usual way to cut scheduler noise.
	best := func(rows []Row) (map[int]float64, map[int]int, []int) {
		t, reps := map[int]float64{}, map[int]int{}
		var sizes []int
		for _, r := range rows {
			if r.Op != "allreduce" {
				continue
			}
			if old, ok := t[r.Bytes]; !ok || r.TimeUS < old {
				if !ok {
					sizes = append(sizes, r.Bytes)
				}
				t[r.Bytes] = r.TimeUS
			}
			reps[r.Bytes]++
		}
		return t, reps, sizes
	}
	gt, greps, sizes := best(goRows)
	ct, creps, _ := best(cRows)
	fmt.Printf("# %12s %12s %12s %8s %6s\n", "size(B)", "tessera(us)", "C MPI(us)", "ratio", "reps")
	worst, worstBig := 0.0, 0.0
	for _, s := range sizes {
		c, ok := ct[s]
		if !ok {
			continue
		}
		ratio := gt[s] / c
		worst = max(worst, ratio)
		if s >= 1<<20 {
			worstBig = max(worstBig, ratio)
		}
		fmt.Printf("  %12d %12.1f %12.1f %8.3f %3d/%-3d\n", s, gt[s], c, ratio, greps[s], creps[s])
	}
	fmt.Printf("# worst ratio %.3f over all sizes, %.3f at >= 1 MiB (target <= 1.05); best time of the repetitions\n", worst, worstBig)
	return nil
}
