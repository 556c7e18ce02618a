"""Drive the Tessera-vs-OpenBLAS-vs-gonum comparison (see compare.sh).

For every round, size and thread count it runs numpy (OpenBLAS) and then
Tessera's bench/gemm (which also times gonum) back to back, so anchor and
Tessera see the same machine load; with several rounds the median per case is
reported. Prints a table with the ratios Tessera/OpenBLAS and Tessera/gonum,
optionally as Markdown, and can save every raw JSON line.
"""
import argparse
import collections
import json
import os
import platform
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def run_lines(cmd, env=None):
    out = subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.PIPE, text=True).stdout
    return [json.loads(l) for l in out.splitlines() if l.startswith("{")]


def cpu_model():
    try:
        out = subprocess.run(["lscpu"], stdout=subprocess.PIPE, text=True).stdout
        for l in out.splitlines():
            if l.startswith("Model name:"):
                return l.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def mode_gemm(args):
    dtypes = ["float32", "float64"] if args.dtype == "both" else [args.dtype]
    sizes = [int(s) for s in args.sizes.split(",")]
    threads = [int(s) for s in args.threads.split(",")]
    binpath = os.path.join(ROOT, "bench", "gemm", "gemm.bin")
    subprocess.run(["go", "build", "-o", binpath, "./bench/gemm"], cwd=ROOT, check=True)
    anchors = ["openblas"] + (["torch"] if args.torch else [])
    rows = []
    load0 = os.getloadavg()
    try:
        for rnd in range(args.rounds):
            for n in sizes:
                for th in threads:
                    env = dict(os.environ, OPENBLAS_NUM_THREADS=str(th), OMP_NUM_THREADS=str(th))
                    for impl in anchors:
                        rows += run_lines(["/usr/bin/python3", os.path.join(HERE, "numpy_gemm.py"),
                                           "--impl", impl, "--sizes", str(n), "--dtypes", ",".join(dtypes),
                                           "--reps", str(args.reps)], env)
                    for dt in dtypes:
                        rows += run_lines([binpath, "-json", "-sizes", str(n), "-threads", str(th), "-dtype", dt,
                                           "-reps", str(args.reps),
                                           "-gonum-reps", str(args.gonum_reps if not args.no_gonum else 0)])
                    print(f"round {rnd + 1}/{args.rounds} N={n} threads={th} done", file=sys.stderr, flush=True)
    finally:
        try:
            os.remove(binpath)
        except OSError:
            pass
    if args.save:
        with open(args.save, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")

    g = collections.defaultdict(list)
    kernel = ""
    for r in rows:
        g[(r["impl"], r["dtype"], r["n"], r["threads"])].append(r["gflops"])
        kernel = r.get("kernel", kernel)
    med = {k: statistics.median(v) for k, v in g.items()}

    def get(impl, dt, n, th):
        return med.get((impl, dt, n, th), float("nan"))

    cols = ["dtype", "N", "threads", "Tessera", "OpenBLAS"] + (["torch"] if args.torch else []) + \
        ["gonum", "Tessera/OpenBLAS", "Tessera/gonum"]
    table = []
    for dt in dtypes:
        for n in sizes:
            for th in threads:
                t, o, gn = get("tessera", dt, n, th), get("openblas", dt, n, th), get("gonum", dt, n, th)
                row = [dt, str(n), str(th), f"{t:.1f}", f"{o:.1f}"]
                if args.torch:
                    row.append(f"{get('torch', dt, n, th):.1f}")
                row += [f"{gn:.1f}" if gn == gn else "-", f"{t / o:.2f}x", f"{t / gn:.1f}x" if gn == gn else "-"]
                table.append(row)
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"Tessera kernel {kernel}, GFLOP/s, median of {args.reps} reps x {args.rounds} rounds")
    load1 = os.getloadavg()
    print(f"# load average (1 min) {load0[0]:.1f} at start, {load1[0]:.1f} at end")
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" for _ in cols) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        w = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(cols)]
        print("  ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
        for row in table:
            print("  ".join(x.rjust(w[i]) for i, x in enumerate(row)))


def mode_ops(args):
    """bench/ops (Tessera, GB/s and the Go copy anchor) against PyTorch, same cases, same run."""
    binpath = os.path.join(ROOT, "bench", "ops", "ops.bin")
    subprocess.run(["go", "build", "-o", binpath, "./bench/ops"], cwd=ROOT, check=True)
    th = int(args.threads.split(",")[-1])
    env = dict(os.environ, OMP_NUM_THREADS=str(th), MALLOC_MMAP_THRESHOLD_="33554432",
               MALLOC_TRIM_THRESHOLD_="4294967296")
    load0 = os.getloadavg()
    rows = []
    try:
        for rnd in range(args.rounds):
            rows += run_lines(["/usr/bin/python3", os.path.join(HERE, "torch_ops.py"), "--mib", str(args.mib),
                               "--reps", str(args.reps), "--threads", str(th)], env)
            for r in run_lines([binpath, "-json", "-mib", str(args.mib), "-reps", str(args.reps)],
                               dict(os.environ, GOMAXPROCS=str(th))):
                r["impl"] = "tessera"
                rows.append(r)
            print(f"round {rnd + 1}/{args.rounds} done", file=sys.stderr, flush=True)
    finally:
        try:
            os.remove(binpath)
        except OSError:
            pass
    if args.save:
        with open(args.save, "w") as f:
            for r in rows:
                f.write(json.dumps(r) + "\n")
    g = collections.defaultdict(list)
    for r in rows:
        g[(r["impl"], r["op"])].append(r["gbps"])
    med = {k: statistics.median(v) for k, v in g.items()}
    ops = []
    for r in rows:
        if r["impl"] == "tessera" and r["op"] not in ops:
            ops.append(r["op"])
    copy = med.get(("tessera", "copy(go)"), float("nan"))
    print(f"# {cpu_model()}, {os.cpu_count()} CPUs, {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}, "
          f"{args.mib} MiB float32 operands, {th} threads, GB/s, median of {args.reps} reps x {args.rounds} rounds")
    print(f"# load average (1 min) {load0[0]:.1f} at start, {os.getloadavg()[0]:.1f} at end; "
          f"copy anchor (Go copy, {th} goroutines) {copy:.1f} GB/s")
    cols = ["op", "Tessera", "torch", "Tessera/copy", "Tessera/torch"]
    table = []
    for op in ops:
        t, p = med[("tessera", op)], med.get(("torch", op), float("nan"))
        table.append([op, f"{t:.2f}", f"{p:.2f}" if p == p else "-", f"{t / copy:.2f}",
                      f"{t / p:.2f}x" if p == p else "-"])
    print_table(args, cols, table)


def print_table(args, cols, table):
    if args.markdown:
        print("| " + " | ".join(cols) + " |")
        print("|" + "|".join("---" for _ in cols) + "|")
        for row in table:
            print("| " + " | ".join(row) + " |")
    else:
        w = [max(len(c), *(len(r[i]) for r in table)) for i, c in enumerate(cols)]
        print("  ".join(c.rjust(w[i]) for i, c in enumerate(cols)))
        for row in table:
            print("  ".join(x.rjust(w[i]) for i, x in enumerate(row)))


MODES = {"gemm": mode_gemm, "ops": mode_ops}  # train: go run ./bench/train -torch


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("mode", nargs="?", default="gemm", help="benchmark mode: " + ", ".join(MODES))
    ap.add_argument("--sizes", default="256,512,1024,2048")
    ap.add_argument("--dtype", default="both", choices=["float32", "float64", "both"])
    ap.add_argument("--threads", default="1,2")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--gonum-reps", type=int, default=3)
    ap.add_argument("--no-gonum", action="store_true", help="skip gonum (slow at N=2048)")
    ap.add_argument("--rounds", type=int, default=1, help="repeat everything; report the median per case")
    ap.add_argument("--torch", action="store_true", help="also time torch.mm")
    ap.add_argument("--markdown", action="store_true", help="print a Markdown table")
    ap.add_argument("--save", help="write every raw JSON line to this file")
    ap.add_argument("--mib", type=int, default=256, help="ops: MiB per float32 operand")
    args = ap.parse_args()
    if args.mode not in MODES:
        ap.error(f"unknown mode {args.mode!r}; known: {', '.join(MODES)}")
    MODES[args.mode](args)


if __name__ == "__main__":
    main()
