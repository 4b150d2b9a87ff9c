#!/usr/bin/python3
"""BERT-base at one sequence length: xfc against PyTorch, side by side.

Compiles models/bert-base-uncased.json with `xfc compile`, times `xfc run`
(median of --repeat runs after warm-up), then times the same architecture in
PyTorch (torch.nn.TransformerEncoder, post-LN, GELU, 768/12/3072/12, eval
mode, no grad) in the same process run, and prints both and their ratio.
Run on an otherwise idle machine; numbers from shared machines are noisy, so
only the ratio within one run is meaningful.

usage: /usr/bin/python3 bench/bert_base_cpu.py [--build build] [--seq-len 128]
       [--repeat 5] [--torch-threads 1]
"""
import argparse
import os
import re
import subprocess
import sys
import time

# PyTorch's BLAS (OpenBLAS when libopenblas0 provides libblas.so.3) sizes its
# thread pool at load time, so the thread count is fixed before the import.
_threads = "1"
for i, a in enumerate(sys.argv):
    if a == "--torch-threads" and i + 1 < len(sys.argv):
        _threads = sys.argv[i + 1]
os.environ["OPENBLAS_NUM_THREADS"] = _threads
os.environ["OMP_NUM_THREADS"] = _threads

import torch  # noqa: E402


def blas_library():
    """The BLAS shared library this process loaded (after a matmul)."""
    torch.randn(8, 8) @ torch.randn(8, 8)
    with open("/proc/self/maps") as maps:
        for line in maps:
            if "blas" in line:
                return os.path.realpath(line.split()[-1])
    return "unknown"


def run(cmd):
    out = subprocess.run(cmd, check=True, capture_output=True, text=True)
    return out.stdout


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--build", default="build")
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--torch-threads", type=int, default=1)
    args = p.parse_args()

    xfc = os.path.join(args.build, "bin", "xfc")
    artifact = os.path.join(args.build, "bench", f"bert-base-s{args.seq_len}")
    t0 = time.perf_counter()
    compile_log = run([xfc, "compile", "models/bert-base-uncased.json", "-o",
                       artifact, "--seq-len", str(args.seq_len), "--force"])
    compile_s = time.perf_counter() - t0
    run_log = run([xfc, "run", artifact, "--random-input", "--warmup", "1",
                   "--repeat", str(args.repeat)])
    xfc_ms = float(re.search(r"median ([0-9.]+) ms", run_log).group(1))

    torch.set_num_threads(args.torch_threads)
    layer = torch.nn.TransformerEncoderLayer(768, 12, 3072, dropout=0.0,
                                             activation="gelu",
                                             batch_first=True)
    model = torch.nn.TransformerEncoder(layer, 12, enable_nested_tensor=False)
    model.eval()
    x = torch.randn(1, args.seq_len, 768)
    with torch.no_grad():
        model(x)
        times = []
        for _ in range(args.repeat):
            t = time.perf_counter()
            model(x)
            times.append((time.perf_counter() - t) * 1000)
    times.sort()
    torch_ms = times[len(times) // 2]

    flops = 12 * (2 * args.seq_len * 768 * 768 * 4 +
                  2 * args.seq_len * 768 * 3072 * 2 +
                  2 * 2 * args.seq_len * args.seq_len * 768)
    print(f"BERT-base, batch 1, sequence {args.seq_len}, fp32, "
          f"{flops / 1e9:.1f} GFLOP per run")
    print(f"xfc compile (end to end, incl. 415 MiB weights): {compile_s:.2f} s")
    print(compile_log.rstrip())
    print(f"PyTorch BLAS: {blas_library()}, threads {args.torch_threads}")
    print(f"{'':26s}{'median ms':>12s}{'GFLOPS':>10s}")
    print(f"{'xfc (1 thread)':26s}{xfc_ms:12.1f}{flops / xfc_ms / 1e6:10.1f}")
    print(f"{f'PyTorch {torch.__version__} ({args.torch_threads} thr)':26s}"
          f"{torch_ms:12.1f}{flops / torch_ms / 1e6:10.1f}")
    print(f"ratio xfc / PyTorch: {xfc_ms / torch_ms:.2f}x")


if __name__ == "__main__":
    sys.exit(main())
