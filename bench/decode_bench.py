#!/usr/bin/env python3
# ===- decode_bench.py - Greedy decoding with a key/value cache -----------=== #
#
# Part of xfc. The `decode/gpt2-small/ctx<C>` records of `make bench`
# (bench/README.md): tokens per second of greedy decoding, one token per
# step, batch 1, when the key/value cache already holds about C positions
# (C = 128 and 1024). One random GPT-2 small checkpoint (transformers'
# GPT2LMHeadModel, its own init, seed 0, saved with save_pretrained) is
# run by both:
#
#   xfc      `xfc compile CHECKPOINT --generate=1024 --seq-len 96`, then
#            xfc_generator_* of libxfc_runtime.so through ctypes: a prefill
#            of 96 tokens, decode steps (untimed) up to position C - 32,
#            then 32 timed steps (positions C - 32 .. C - 1);
#   pytorch  the same checkpoint with the loop transformers' generate runs
#            with its cache on (model(token, past_key_values=past,
#            use_cache=True), greedy), the same prompt, the same positions.
#
# Each peer runs in a child process of its own with its thread count fixed
# in the environment (1 and all cores; the record keeps the better), and
# the record is 1 / (median step time). Greedy argmax is inside the timed
# step for both.
#
# usage (by bench/run.py): run_decode(args, records, skips, pytorch_ok);
# alone: bench/decode_bench.py --build build [--quick]
#
# ===----------------------------------------------------------------------=== #

import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

CONTEXTS = [128, 1024]
STEPS = 32
# The prompt ends before the first timed step of the shortest context, so
# every context has its STEPS timed decode steps.
PROMPT = min(CONTEXTS) - STEPS
CAPACITY = 1024


def log(msg):
    print(f"[decode] {msg}", file=sys.stderr, flush=True)


def thread_env(threads):
    env = dict(os.environ)
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
        env[name] = str(threads)
    return env


def make_checkpoint(out):
    """A random GPT-2 small (124M) checkpoint folder."""
    import torch
    from transformers import GPT2Config, GPT2LMHeadModel
    if os.path.exists(os.path.join(out, "model.safetensors")):
        return
    torch.manual_seed(0)
    model = GPT2LMHeadModel(GPT2Config()).eval()
    model.save_pretrained(out, safe_serialization=True)


def prompt_ids(vocab):
    return [(17 * i + 5) % vocab for i in range(PROMPT)]


def median(xs):
    if not xs:
        raise RuntimeError(f"no timed steps (a context at or below the "
                           f"{PROMPT}-token prompt)")
    xs = sorted(xs)
    return xs[len(xs) // 2]


def measure_xfc(a):
    """Per-step seconds at each context, through the runtime's generator."""
    import ctypes
    import numpy as np
    lib = ctypes.CDLL(os.path.join(a.build, "lib", "libxfc_runtime.so"))

    # Every field of xfc_context_options: initialize fills them all.
    class Options(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32),
                    ("num_threads", ctypes.c_int32),
                    ("enable_profiling", ctypes.c_int32),
                    ("gpu_graph", ctypes.c_int32)]

    class Info(ctypes.Structure):
        _fields_ = [(n, ctypes.c_int64) for n in
                    ("batch", "prompt_length", "capacity", "vocab_size",
                     "num_layers")]

    lib.xfc_status_get_message.restype = ctypes.c_char_p
    lib.xfc_generator_open.restype = ctypes.c_void_p
    for name in ("xfc_generator_open", "xfc_generator_get_info",
                 "xfc_generator_prefill", "xfc_generator_decode"):
        getattr(lib, name).restype = ctypes.c_void_p

    def check(status):
        if status:
            raise RuntimeError(lib.xfc_status_get_message(
                ctypes.c_void_p(status)).decode())

    options = Options()
    lib.xfc_context_options_initialize(ctypes.byref(options))
    options.num_threads = a.threads
    gen = ctypes.c_void_p()
    check(lib.xfc_generator_open(a.artifact.encode(), ctypes.byref(options),
                                 ctypes.byref(gen)))
    info = Info()
    check(lib.xfc_generator_get_info(gen, ctypes.byref(info)))
    logits = np.zeros(info.vocab_size, dtype=np.float32)
    ptr = logits.ctypes.data_as(ctypes.c_void_p)
    ids = np.array(prompt_ids(info.vocab_size), dtype=np.int32)
    check(lib.xfc_generator_prefill(gen, ids.ctypes.data_as(ctypes.c_void_p),
                                    ctypes.c_size_t(len(ids)), ptr,
                                    ctypes.c_size_t(info.vocab_size)))
    token = np.zeros(1, dtype=np.int32)
    tptr = token.ctypes.data_as(ctypes.c_void_p)
    length = len(ids)
    result = {}
    for c in a.contexts:
        times = []
        while length < c:
            timed = length >= c - a.steps
            start = time.perf_counter()
            token[0] = int(np.argmax(logits))
            check(lib.xfc_generator_decode(gen, tptr, ctypes.c_size_t(1), ptr,
                                           ctypes.c_size_t(info.vocab_size)))
            if timed:
                times.append(time.perf_counter() - start)
            length += 1
        result[str(c)] = median(times)
    lib.xfc_generator_destroy(gen)
    return result


def measure_pytorch(a):
    import torch
    from transformers import GPT2LMHeadModel
    torch.set_num_threads(a.threads)
    model = GPT2LMHeadModel.from_pretrained(a.checkpoint).eval()
    ids = torch.tensor([prompt_ids(model.config.vocab_size)])
    result = {}
    with torch.no_grad():
        out = model(ids, use_cache=True)
        past, logits = out.past_key_values, out.logits[:, -1, :]
        length = ids.shape[1]
        for c in a.contexts:
            times = []
            while length < c:
                timed = length >= c - a.steps
                start = time.perf_counter()
                token = torch.argmax(logits, dim=-1, keepdim=True)
                out = model(token, past_key_values=past, use_cache=True)
                past, logits = out.past_key_values, out.logits[:, -1, :]
                if timed:
                    times.append(time.perf_counter() - start)
                length += 1
            result[str(c)] = median(times)
    return result


def child_main(argv):
    p = argparse.ArgumentParser()
    p.add_argument("--peer", required=True, choices=["xfc", "pytorch"])
    p.add_argument("--build", default="build")
    p.add_argument("--artifact")
    p.add_argument("--checkpoint")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--steps", type=int, default=STEPS)
    p.add_argument("--contexts", default=",".join(map(str, CONTEXTS)))
    p.add_argument("--output", required=True)
    a = p.parse_args(argv)
    a.contexts = [int(c) for c in a.contexts.split(",")]
    result = (measure_xfc if a.peer == "xfc" else measure_pytorch)(a)
    with open(a.output, "w") as f:
        json.dump(result, f)


def run_child(args, peer, threads, work, artifact, checkpoint, contexts,
              steps):
    out = os.path.join(work, f"{peer}-t{threads}.json")
    cmd = [sys.executable, os.path.abspath(__file__), "_measure",
           "--peer", peer, "--build", args.build, "--artifact", artifact,
           "--checkpoint", checkpoint, "--threads", str(threads),
           "--steps", str(steps), "--contexts", ",".join(map(str, contexts)),
           "--output", out]
    p = subprocess.run(cmd, cwd=ROOT, env=thread_env(threads),
                       capture_output=True, text=True, timeout=3600)
    if p.returncode != 0:
        raise RuntimeError(p.stderr.strip()[-400:])
    with open(out) as f:
        return json.load(f)


def run_decode(args, records, skips, pytorch_available):
    """Appends the decode/gpt2-small records (or skips) of this run."""
    try:
        import transformers  # noqa: F401
    except ImportError:
        skips.append("decode/gpt2-small: `import transformers` fails (the "
                     "checkpoint and the pytorch peer need it)")
        return
    quick = getattr(args, "quick", False)
    contexts = [PROMPT + 8, PROMPT + 16] if quick else CONTEXTS
    steps = 4 if quick else STEPS
    work = os.path.join(args.build, "bench", "decode")
    checkpoint = os.path.join(work, "gpt2-small-hf")
    artifact = os.path.join(work, "gpt2-small")
    os.makedirs(work, exist_ok=True)
    log("checkpoint " + checkpoint)
    make_checkpoint(checkpoint)
    xfc = os.path.join(args.build, "bin", "xfc")
    cmd = [xfc, "compile", checkpoint, "-o", artifact, "--force",
           f"--generate={CAPACITY}", "--seq-len", str(PROMPT)]
    log(" ".join(cmd))
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        skips.append(f"decode/gpt2-small: compile failed: {p.stderr[-400:]}")
        return
    threads = sorted({1, len(os.sched_getaffinity(0))})
    best = {"xfc": {}, "pytorch": {}}
    peers = ["xfc"] + (["pytorch"] if pytorch_available else [])
    for t in threads:
        for peer in peers:
            log(f"{peer}, {t} threads")
            try:
                seconds = run_child(args, peer, t, work, artifact, checkpoint,
                                    contexts, steps)
            except (RuntimeError, subprocess.TimeoutExpired) as e:
                skips.append(f"decode/gpt2-small {peer} threads={t}: {e}")
                continue
            for c, s in seconds.items():
                rate = 1.0 / s
                if rate > best[peer].get(c, (0, 0))[0]:
                    best[peer][c] = (rate, t)
    for c in map(str, contexts):
        if c not in best["xfc"]:
            continue
        rate, t = best["xfc"][c]
        record = {"name": f"decode/gpt2-small/ctx{c}", "unit": "tokens/s",
                  "xfc": rate, "xfc_threads": t, "peers": {},
                  "steps": steps, "prompt": PROMPT, "capacity": CAPACITY}
        if c in best["pytorch"]:
            record["peers"]["pytorch"] = best["pytorch"][c][0]
            record["pytorch_threads"] = best["pytorch"][c][1]
        records.append(record)


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        return child_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--build", default="build")
    p.add_argument("--quick", action="store_true")
    args = p.parse_args()
    records, skips = [], []
    try:
        import torch  # noqa: F401
        have_torch = True
    except ImportError:
        have_torch = False
    run_decode(args, records, skips, have_torch)
    print(json.dumps({"records": records, "skipped": skips}, indent=1))


if __name__ == "__main__":
    main()
