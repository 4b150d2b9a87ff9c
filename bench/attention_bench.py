#!/usr/bin/env python3
# ===- attention_bench.py - One attention layer, dense and sparse ---------=== #
#
# Part of xfc. The `attention/<variant>/L=<n>` records of `make bench`
# (bench/README.md): one attention layer (12 heads, head_dim 64, batch 1)
# at each sequence length, dense and under the mask patterns, each compiled
# by build/bin/xfc-attention-bench and run by build/bin/xfc-attention-run
# (the runtime alone, so the run's resident high-water mark is its own). Peers, measured in
# the same run: xfc's own dense fused attention at the same L, and for
# L <= 4096 PyTorch's math attention (softmax(Q K^T / sqrt(d) + M) V with
# the mask built element by element from the definitions, by the goldens'
# script) at its best thread count.
#
# ===----------------------------------------------------------------------=== #

import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
GOLDENS = os.path.join(ROOT, "tests", "e2e", "golden", "attention_patterns")

HEADS, HEAD_DIM = 12, 64
LENGTHS = [1024, 2048, 4096, 8192, 16384]
PYTORCH_MAX_L = 4096

# name -> the pattern's parts (the goldens' script's representation), one
# group; "dense" has none.
VARIANTS = {
    "dense": [],
    "sliding_window_w512": [{"kind": "sliding_window", "w": 512}],
    "bigbird_b64": [{"kind": "bigbird", "b": 64, "window": 3,
                     "global": [0, 1], "random": 3, "seed": 1}],
    "longformer_w512_g1": [{"kind": "sliding_window", "w": 512},
                           {"kind": "global", "positions": [0]}],
    "strided_l128": [{"kind": "strided_local", "l": 128},
                     {"kind": "strided_summary", "l": 128}],
    "dilated_w512_d2": [{"kind": "dilated_sliding_window", "w": 512,
                         "d": 2}],
    # Sparse Transformer fixed pattern, A1 + A2 in every head: A2 is
    # gathered by key (its 16 summary keys of every 128, compacted).
    "fixed_l128_c16": [{"kind": "fixed_local", "l": 128},
                       {"kind": "fixed_summary", "l": 128, "c": 16}],
    # Kernelized attention (not masks: a different function, no ideal
    # speedup and no PyTorch mask peer); their target is a time per token
    # that stays flat: per_token_growth_1k_16k <= 1.5.
    "linear": [{"kind": "linear"}],
    "linear_causal": [{"kind": "linear", "causal": True}],
    "performer_m256": [{"kind": "performer", "m": 256, "seed": 0}],
    "performer_m256_causal": [{"kind": "performer", "m": 256, "seed": 0,
                               "causal": True}],
    # Not a mask: the pattern text itself. Keys and values are projected to
    # k = 256 rows by E and F, then attention is dense over those rows.
    "linformer_k256": "linformer(k = 256, sharing = headwise, seed = 0)",
    # Reformer LSH attention (not a mask: no PyTorch peer and no ideal
    # speedup; it computes a different function, see
    # docs/attention-patterns.md).
    "lsh_b32_h2_c64": [{"kind": "lsh", "buckets": 32, "hashes": 2,
                        "chunk": 64, "seed": 0}],
}
# The kinds that are not masks over softmax attention.
FAMILIES = {"linear", "performer", "lsh"}


def is_family(variant):
    """Not a mask (written as pattern text, or a kernelized family): no
    ideal speedup."""
    parts = VARIANTS[variant]
    if isinstance(parts, str):
        return True
    return any(p["kind"] in FAMILIES for p in parts)


def linformer_k(variant):
    """k of a Linformer variant, or None for a mask pattern."""
    parts = VARIANTS[variant]
    if isinstance(parts, str) and parts.startswith("linformer"):
        return int(parts.split("k = ")[1].split(",")[0].rstrip(")"))
    return None


def goldens_module():
    sys.path.insert(0, GOLDENS)
    import make_pattern_goldens
    return make_pattern_goldens


def pattern_text(parts):
    if not parts:
        return ""
    if isinstance(parts, str):
        return parts
    return goldens_module().pattern_text([parts])


def log(msg):
    print(f"[attention] {msg}", file=sys.stderr, flush=True)


def run_json(cmd, path, env=None, timeout=1800):
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env,
                          timeout=timeout)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd[:2])} failed ({proc.returncode}): "
                           f"{proc.stderr.strip()[-400:]}")
    with open(path) as f:
        return json.load(f)


def compile_xfc(args, variant, seq):
    exe = os.path.join(args.build, "bin", "xfc-attention-bench")
    work = os.path.join(args.build, "bench", "attention", f"{variant}_L{seq}")
    text = pattern_text(VARIANTS[variant])
    cmd = [exe, "compile", "--seq", str(seq), "--work", work,
           "--heads", str(HEADS), "--head-dim", str(HEAD_DIM)]
    if text:
        cmd += ["--pattern", text]
    return work, run_json(cmd, os.path.join(work, "compile.json"))


def run_xfc(args, work, runs):
    runner = os.path.join(args.build, "bin", "xfc-attention-run")
    return run_json([runner, "run", "--work", work, "--runs", str(runs),
                     "--threads", "0"], os.path.join(work, "run.json"))


# --------------------------------------------------------------------------- #
# The PyTorch peer (a child process per configuration, for its RSS)
# --------------------------------------------------------------------------- #

def peak_resident_bytes():
    """VmHWM: reset by execve, unlike ru_maxrss (which a child forked from
    this large parent would inherit)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    return 0


def torch_child(argv):
    import torch
    seq, variant, threads, runs = (int(argv[0]), argv[1], int(argv[2]),
                                   int(argv[3]))
    torch.set_num_threads(threads)
    g = torch.Generator().manual_seed(7)
    q, k, v = (torch.randn(1, HEADS, seq, HEAD_DIM, generator=g)
               for _ in range(3))
    parts = VARIANTS[variant]
    mask = None
    proj = linformer_k(variant)
    if parts and proj is None:
        allowed = goldens_module().group_mask(parts, seq, seq)
        mask = torch.zeros(seq, seq).masked_fill(~allowed, float("-inf"))
    scale = HEAD_DIM ** -0.5
    if proj is not None:
        e, f = (torch.randn(proj, seq, generator=g) / proj ** 0.5
                for _ in range(2))

    def attention():
        kk, vv = k, v
        if proj is not None:
            kk, vv = torch.matmul(e, k), torch.matmul(f, v)
        s = torch.matmul(q, kk.transpose(-1, -2)) * scale
        if mask is not None:
            s = s + mask
        return torch.matmul(torch.softmax(s, dim=-1), vv)

    with torch.no_grad():
        attention()
        times = []
        for _ in range(runs):
            t = time.perf_counter()
            attention()
            times.append((time.perf_counter() - t) * 1e3)
    times.sort()
    print(json.dumps({
        "median_ms": times[len(times) // 2], "threads": threads,
        "peak_rss_bytes": peak_resident_bytes(),
        "version": torch.__version__}))


def measure_pytorch(variant, seq, runs, thread_counts):
    best = None
    for threads in thread_counts:
        env = dict(os.environ)
        env["OMP_NUM_THREADS"] = str(threads)
        proc = subprocess.run(
            ["/usr/bin/python3", os.path.abspath(__file__), "_torch",
             str(seq), variant, str(threads), str(runs)],
            capture_output=True, text=True, env=env, timeout=1800)
        if proc.returncode != 0:
            raise RuntimeError("pytorch attention failed: " +
                               proc.stderr.strip()[-400:])
        result = json.loads(proc.stdout)
        if best is None or result["median_ms"] < best["median_ms"]:
            best = result
    return best


# --------------------------------------------------------------------------- #
# Records
# --------------------------------------------------------------------------- #

def run_attention(args, records, skips, pytorch_available):
    for tool in ("xfc-attention-bench", "xfc-attention-run"):
        if not os.path.exists(os.path.join(args.build, "bin", tool)):
            skips.append(f"attention: {tool} not built")
            return
    lengths = [int(x) for x in args.attention_lengths.split(",") if x]
    thread_counts = sorted({1, len(os.sched_getaffinity(0))})
    for seq in lengths:
        # Compile every variant, then time them in interleaved rounds (all
        # variants in round 1, then round 2, ...), each round its own
        # process after a warm-up run, so load from other processes on a
        # shared machine falls on the dense peer and the patterns alike.
        # Long dense runs take tens of seconds: fewer of them.
        runs, rounds = (1, 3) if seq >= 8192 else (2, 3)
        compiled = {}
        for variant in VARIANTS:
            log(f"L={seq} compile {variant}")
            try:
                compiled[variant] = compile_xfc(args, variant, seq)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                skips.append(f"attention/{variant}/L={seq}: {e}")
        samples = {v: [] for v in compiled}
        peak = {v: 0 for v in compiled}
        threads = {}
        for r in range(rounds):
            for variant, (work, _) in compiled.items():
                log(f"L={seq} run {variant} (round {r + 1}/{rounds})")
                try:
                    ran = run_xfc(args, work, runs)
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    skips.append(f"attention/{variant}/L={seq}: {e}")
                    continue
                samples[variant] += ran["samples_ms"]
                peak[variant] = max(peak[variant], ran["peak_rss_bytes"])
                threads[variant] = ran["threads"]
        median = {v: sorted(ms)[len(ms) // 2] for v, ms in samples.items()
                  if ms}
        dense_ms = median.get("dense")
        for variant, ms in median.items():
            info = compiled[variant][1]
            record = {
                "name": f"attention/{variant}/L={seq}",
                "unit": "ms",
                "xfc": ms,
                "peers": {},
                "pattern": info["pattern"],
                "seq": seq, "heads": HEADS, "head_dim": HEAD_DIM,
                "runs": len(samples[variant]), "rounds": rounds,
                "threads": threads[variant],
                "peak_rss_bytes": peak[variant],
                "compile_seconds": info["compile_seconds"],
            }
            if dense_ms is not None:
                record["peers"]["dense"] = dense_ms
                record["speedup_vs_dense"] = dense_ms / ms
            if variant != "dense" and not is_family(variant):
                ideal = seq * seq / info["allowed_pairs"]
                record["ideal_speedup"] = ideal
                record["executed_block_density"] = (
                    info["executed_flops"] / info["dense_flops"])
                if dense_ms is not None:
                    record["fraction_of_ideal"] = dense_ms / ms / ideal
            if is_family(variant):
                record["executed_flops"] = info["executed_flops"]
                record["dense_flops"] = info["dense_flops"]
            # A PyTorch peer for the masks (the equivalent mask) and for
            # Linformer (its formula); none for the kernelized families.
            if (pytorch_available and seq <= PYTORCH_MAX_L
                    and (not is_family(variant)
                         or linformer_k(variant) is not None)):
                log(f"L={seq} pytorch {variant}")
                try:
                    peer = measure_pytorch(variant, seq, 3, thread_counts)
                    record["peers"]["pytorch"] = peer["median_ms"]
                    record["pytorch_threads"] = peer["threads"]
                    record["pytorch_peak_rss_bytes"] = peer["peak_rss_bytes"]
                except (RuntimeError, subprocess.TimeoutExpired) as e:
                    skips.append(f"attention/{variant}/L={seq} pytorch: {e}")
            records.append(record)
    # Time per token at the longest L over that at the shortest
    # ("per_token_growth_1k_16k" by default), for every variant measured at
    # both (the linear-attention target; recorded for all).
    by_name = {r["name"]: r for r in records}
    for variant in VARIANTS:
        lo = by_name.get(f"attention/{variant}/L={lengths[0]}")
        hi = by_name.get(f"attention/{variant}/L={lengths[-1]}")
        if lo and hi and lo is not hi:
            key = (f"per_token_growth_{lengths[0] // 1024}k_"
                   f"{lengths[-1] // 1024}k")
            hi[key] = (hi["xfc"] / hi["seq"]) / (lo["xfc"] / lo["seq"])


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "_torch":
        torch_child(sys.argv[2:])
    else:
        sys.exit("attention_bench.py is driven by bench/run.py "
                 "(make bench)")
