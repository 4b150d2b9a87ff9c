#!/usr/bin/env python3
"""`make bench`: xfc against its peers, side by side, in one run.

Measures, on this machine and in this one run:
  gemm/M=..,N=..,K=../threads=T   GFLOPS, xfc's xf.linear vs OpenBLAS sgemm
                                  (build/bin/xfc-gemm-bench)
  e2e/<model>/seq128              median ms, xfc vs ONNX Runtime and PyTorch
  memory/<model>/seq128           bytes, xfc's arena vs lower bound and naive
                                  (from the artifact's manifest, if it has them)
  compile/bert-base               seconds of `xfc compile`
  decode/gpt2-small/ctx<C>        tokens/s of greedy decoding with the
                                  key/value cache at context 128 and 1024,
                                  xfc vs PyTorch (bench/decode_bench.py)
and writes bench/results.json, bench/reports/<date>-cpu.md and its plots.
bench/README.md says what each record means and the fairness rules.

Every peer configuration is timed in its own child process (run.py
_measure ...), with its thread count fixed through the environment before
any library loads: OpenBLAS and OpenMP size their pools at load time.

usage: bench/run.py [--build build] [--repeat 5] [--rounds 3] [--warmup 2]
                    [--models bert-base,gpt2-small] [--skip-gemm]
                    [--quick] [--results bench/results.json]
                    [--report-dir bench/reports]
"""
import argparse
import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)

# The models of the e2e records: record name -> spec.
MODELS = {
    "bert-base": "models/bert-base-uncased.json",
    "gpt2-small": "models/gpt2-small.json",
}
# Also accepted by --models (a fast smoke test of the whole e2e path), but
# not measured by default.
EXTRA_MODELS = {"example-tiny-bert": "models/example-tiny-bert.json"}
GEMM_SHAPES = ["128x768x768", "128x2304x768", "128x3072x768",
               "128x768x3072", "512x768x768", "512x3072x768"]
SEQ_LEN = 128


def log(msg):
    print(msg, file=sys.stderr, flush=True)


def all_threads():
    return len(os.sched_getaffinity(0))


def thread_env(threads):
    """The environment of a child that must use `threads` threads."""
    env = dict(os.environ)
    for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                "MKL_NUM_THREADS"):
        env[var] = str(threads)
    return env


def xfc_threads_for(requested):
    """Threads xfc's generated code runs with when `requested` are asked
    for: the run context is created with num_threads = requested (0 would
    mean one per core), so it is exactly that."""
    return requested


# ---------------------------------------------------------------------------
# Children: one peer configuration each.
# ---------------------------------------------------------------------------

def timed_runs(fn, warmup, repeat):
    for _ in range(warmup):
        fn()
    ms = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        ms.append((time.perf_counter() - t) * 1e3)
    return {"times_ms": ms}


def loaded_libraries(*needles):
    """Shared libraries of this process whose path contains a needle."""
    found = set()
    with open("/proc/self/maps") as maps:
        for line in maps:
            path = line.split()[-1]
            if any(n in path for n in needles):
                found.add(os.path.realpath(path))
    return sorted(found)


def measure_pytorch(a):
    import numpy as np
    import torch
    sys.path.insert(0, HERE)
    import export_models
    torch.set_num_threads(a.threads)
    s, model, inputs, _ = export_models.load_exported(a.model_dir,
                                                      a.variant)
    args = export_models.torch_inputs(s, inputs)
    with torch.no_grad():
        out = model(*args)
        result = timed_runs(lambda: model(*args), a.warmup, a.repeat)
    np.save(a.output, out.numpy())
    result.update(threads=a.threads, version=torch.__version__,
                  blas=loaded_libraries("blas"), variant=a.variant)
    return result


def measure_onnxruntime(a):
    import numpy as np
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    so.intra_op_num_threads = a.threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    sess = ort.InferenceSession(os.path.join(a.model_dir, "model.onnx"), so,
                                providers=["CPUExecutionProvider"])
    inputs = dict(np.load(os.path.join(a.model_dir, "inputs.npz")))
    feed = {}
    for i in sess.get_inputs():
        dtype = np.int64 if "int64" in i.type else np.int32
        feed[i.name] = inputs[i.name].astype(dtype)
    out = sess.run(None, feed)[0]
    result = timed_runs(lambda: sess.run(None, feed), a.warmup, a.repeat)
    np.save(a.output, out)
    result.update(threads=a.threads, version=ort.__version__,
                  graph_optimization="ORT_ENABLE_ALL")
    return result


def measure_xfc(a):
    """Times xfc_model_run through ctypes over libxfc_runtime.so, so the
    figure excludes process start, artifact open and weight mapping."""
    import ctypes
    import numpy as np

    lib = ctypes.CDLL(os.path.join(a.build, "lib", "libxfc_runtime.so"))

    class Buffer(ctypes.Structure):
        _fields_ = [("data", ctypes.c_void_p), ("size_bytes", ctypes.c_size_t)]

    class TensorInfo(ctypes.Structure):
        _fields_ = [("name", ctypes.c_char_p), ("dtype", ctypes.c_int),
                    ("rank", ctypes.c_int32), ("dims", ctypes.c_int64 * 8),
                    ("has_range", ctypes.c_int32),
                    ("min_value", ctypes.c_int64),
                    ("max_value", ctypes.c_int64)]

    lib.xfc_status_get_message.restype = ctypes.c_char_p
    lib.xfc_status_get_message.argtypes = [ctypes.c_void_p]
    lib.xfc_status_free.argtypes = [ctypes.c_void_p]
    lib.xfc_model_open.restype = ctypes.c_void_p
    lib.xfc_model_open.argtypes = [ctypes.c_char_p, ctypes.c_void_p,
                                   ctypes.POINTER(ctypes.c_void_p)]
    lib.xfc_model_num_inputs.restype = ctypes.c_size_t
    lib.xfc_model_num_inputs.argtypes = [ctypes.c_void_p]
    lib.xfc_model_num_outputs.restype = ctypes.c_size_t
    lib.xfc_model_num_outputs.argtypes = [ctypes.c_void_p]
    for fn in (lib.xfc_model_input_info, lib.xfc_model_output_info):
        fn.restype = ctypes.c_void_p
        fn.argtypes = [ctypes.c_void_p, ctypes.c_size_t,
                       ctypes.POINTER(TensorInfo)]
    # Every field of xfc_context_options: initialize fills them all.
    class ContextOptions(ctypes.Structure):
        _fields_ = [("struct_size", ctypes.c_uint32),
                    ("num_threads", ctypes.c_int32),
                    ("enable_profiling", ctypes.c_int32),
                    ("gpu_graph", ctypes.c_int32)]

    lib.xfc_context_options_initialize.argtypes = [
        ctypes.POINTER(ContextOptions)]
    lib.xfc_context_create.restype = ctypes.c_void_p
    lib.xfc_context_create.argtypes = [ctypes.c_void_p,
                                       ctypes.POINTER(ContextOptions),
                                       ctypes.POINTER(ctypes.c_void_p)]
    lib.xfc_context_num_threads.restype = ctypes.c_int32
    lib.xfc_context_num_threads.argtypes = [ctypes.c_void_p]
    lib.xfc_context_run.restype = ctypes.c_void_p
    lib.xfc_context_run.argtypes = [ctypes.c_void_p, ctypes.POINTER(Buffer),
                                    ctypes.c_size_t, ctypes.POINTER(Buffer),
                                    ctypes.c_size_t]
    lib.xfc_context_destroy.argtypes = [ctypes.c_void_p]
    lib.xfc_model_destroy.argtypes = [ctypes.c_void_p]

    def check(status, what):
        if status:
            msg = lib.xfc_status_get_message(status).decode()
            lib.xfc_status_free(status)
            raise RuntimeError(f"{what}: {msg}")

    model = ctypes.c_void_p()
    check(lib.xfc_model_open(a.artifact.encode(), None, ctypes.byref(model)),
          "xfc_model_open")
    inputs = dict(np.load(os.path.join(a.model_dir, "inputs.npz")))
    keep, in_bufs = [], []
    for i in range(lib.xfc_model_num_inputs(model)):
        info = TensorInfo()
        check(lib.xfc_model_input_info(model, i, ctypes.byref(info)),
              "input info")
        arr = np.ascontiguousarray(inputs[info.name.decode()],
                                   dtype=np.int32 if info.dtype == 1
                                   else np.float32)
        keep.append(arr)
        in_bufs.append(Buffer(arr.ctypes.data, arr.nbytes))
    if lib.xfc_model_num_outputs(model) != 1:
        raise RuntimeError("expected one output")
    info = TensorInfo()
    check(lib.xfc_model_output_info(model, 0, ctypes.byref(info)),
          "output info")
    out = np.empty([info.dims[d] for d in range(info.rank)], np.float32)
    out_buf = Buffer(out.ctypes.data, out.nbytes)
    ins = (Buffer * len(in_bufs))(*in_bufs)

    # A run context owns the arena and the thread count: created once, so
    # the timed runs allocate nothing.
    options = ContextOptions()
    lib.xfc_context_options_initialize(ctypes.byref(options))
    options.num_threads = a.threads
    context = ctypes.c_void_p()
    check(lib.xfc_context_create(model, ctypes.byref(options),
                                 ctypes.byref(context)), "xfc_context_create")

    def run():
        check(lib.xfc_context_run(context, ins, len(in_bufs),
                                  ctypes.byref(out_buf), 1), "xfc_context_run")

    run()
    result = timed_runs(run, a.warmup, a.repeat)
    np.save(a.output, out)
    threads = lib.xfc_context_num_threads(context)
    lib.xfc_context_destroy(context)
    lib.xfc_model_destroy(model)
    result.update(threads=threads)
    return result


def child_main(argv):
    p = argparse.ArgumentParser(prog="run.py _measure")
    p.add_argument("--peer", required=True,
                   choices=["xfc", "onnxruntime", "pytorch"])
    p.add_argument("--model-dir", required=True)
    p.add_argument("--artifact")
    p.add_argument("--build", default="build")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--repeat", type=int, default=10)
    p.add_argument("--output", required=True)
    p.add_argument("--variant", default="spec", choices=["spec", "fastpath"],
                   help="pytorch: the spec module or nn.TransformerEncoder")
    a = p.parse_args(argv)
    fn = {"xfc": measure_xfc, "onnxruntime": measure_onnxruntime,
          "pytorch": measure_pytorch}[a.peer]
    print(json.dumps(fn(a)))


# ---------------------------------------------------------------------------
# The parent: the whole run.
# ---------------------------------------------------------------------------

def run_child(args, peer, model_dir, threads, output, artifact=None,
              variant=None):
    """Runs one measurement in a child; returns its result or a skip."""
    cmd = [sys.executable, os.path.abspath(__file__), "_measure",
           "--peer", peer, "--model-dir", model_dir,
           "--build", args.build, "--threads", str(threads),
           "--warmup", str(args.warmup), "--repeat", str(args.repeat),
           "--output", output]
    if artifact:
        cmd += ["--artifact", artifact]
    if variant:
        cmd += ["--variant", variant]
    p = subprocess.run(cmd, capture_output=True, text=True,
                       env=thread_env(threads), cwd=ROOT)
    if p.returncode != 0:
        tail = (p.stderr.strip().splitlines() or ["(no output)"])[-1]
        return {"skipped": f"{peer} with {threads} thread(s) failed: {tail}"}
    return json.loads(p.stdout.strip().splitlines()[-1])


def have_module(name):
    p = subprocess.run([sys.executable, "-c", f"import {name}"],
                       capture_output=True, text=True)
    return p.returncode == 0


def machine_info():
    cpu, flags = "unknown", []
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name") and cpu == "unknown":
                    cpu = line.split(":", 1)[1].strip()
                if line.startswith("flags") and not flags:
                    flags = line.split(":", 1)[1].split()
    except OSError:
        pass
    simd = sorted(f for f in flags if f.startswith("avx") or f in ("fma",
                                                                  "amx_tile"))
    mem = 0
    try:
        with open("/proc/meminfo") as f:
            mem = int(f.readline().split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return {"cpu": cpu, "cores": all_threads(), "simd": simd,
            "memory_bytes": mem, "kernel": platform.release(),
            "load_average_at_start": list(os.getloadavg())}


def git_revision():
    p = subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                       capture_output=True, text=True)
    dirty = subprocess.run(["git", "-C", ROOT, "status", "--porcelain",
                            "--untracked-files=no"],
                           capture_output=True, text=True).stdout.strip()
    rev = p.stdout.strip() or "unknown"
    return rev + ("+uncommitted changes" if dirty else "")


def run_gemm(args):
    exe = os.path.join(args.build, "bin", "xfc-gemm-bench")
    if not os.path.exists(exe):
        return None, (f"{exe} is not built (configure with "
                      f"-DXFC_BUILD_BENCH=ON and install libopenblas-dev)")
    out = os.path.join(args.build, "bench", "gemm.json")
    cmd = [exe, "--shapes", ",".join(args.gemm_shapes), "--threads", "1,0",
           "--work", os.path.join(args.build, "bench", "gemm"),
           "--json", out]
    if args.quick:
        cmd += ["--min-runs", "3", "--min-seconds", "0.05", "--warmup", "1"]
    log("== gemm: " + " ".join(cmd))
    # Its progress lines are shown as they come and kept for the error.
    p = subprocess.Popen(cmd, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    lines = []
    for line in p.stderr:
        sys.stderr.write(line)
        lines.append(line)
    if p.wait() != 0:
        return None, "xfc-gemm-bench failed: " + "".join(lines).strip()[-300:]
    with open(os.path.join(ROOT, out)) as f:
        return json.load(f), None


def gemm_records(doc):
    records = []
    for r in doc["results"]:
        label = "all" if r["all_threads"] and r["threads"] > 1 else \
            str(r["threads"])
        if r["threads"] == 1:
            label = "1"
        nk, kn = r["openblas_b_nk"], r["openblas_b_kn"]
        # OpenBLAS packs B inside every call and that is timed. A weight xfc
        # stores as a plain matrix (as given, or transposed) is compared
        # with that directly; one it packs at compile time makes a separate,
        # "/prepacked" record.
        transform = r["xfc"].get("weight_transform", "transpose")
        packed = transform not in ("none", "transpose")
        suffix = "/prepacked" if packed else ""
        kind = ("pre-packed at compile time" if packed else
                "plain row-major weight, no packing at run time")
        records.append({
            "name": f"gemm/M={r['m']},N={r['n']},K={r['k']}/threads={label}"
                    + suffix,
            "unit": "GFLOPS",
            "xfc": r["xfc"]["gflops"],
            "peers": {"openblas": nk["gflops"],
                      "openblas_b_kn": kn["gflops"]},
            "threads": {"xfc": r["xfc"]["threads"], "openblas": r["threads"],
                        "openblas_b_kn": r["threads"]},
            "xfc_kind": f"{kind}: {r['xfc']['weight_layout']}",
            "peer_kind": {"openblas": "cblas_sgemm, B given [N,K] "
                                      "(CblasTrans, the Linear layout), "
                                      "packing inside each call",
                          "openblas_b_kn": "cblas_sgemm, B given [K,N] "
                                           "(CblasNoTrans), packing inside "
                                           "each call"},
            "median_ms": {"xfc": r["xfc"]["median_ms"],
                          "openblas": nk["median_ms"],
                          "openblas_b_kn": kn["median_ms"]},
            "runs": min(r["xfc"]["runs"], nk["runs"], kn["runs"]),
            "max_abs_diff_vs_openblas": max(nk["max_abs_diff_vs_xfc"],
                                            kn["max_abs_diff_vs_xfc"]),
        })
    return records


def compile_xfc(args, spec, artifact):
    xfc = os.path.join(args.build, "bin", "xfc")
    cmd = [xfc, "compile", spec, "-o", artifact, "--seq-len", str(SEQ_LEN),
           "--force"]
    log("== " + " ".join(cmd))
    t = time.perf_counter()
    p = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True)
    seconds = time.perf_counter() - t
    if p.returncode != 0:
        # A negative code is a signal (e.g. -9 from the out-of-memory killer),
        # which leaves no message of its own.
        return None, f"exit code {p.returncode}: {p.stderr.strip()}"
    log(p.stdout.rstrip())
    return seconds, p.stdout


def max_abs_diff(a_path, b_path):
    import numpy as np
    a, b = np.load(a_path), np.load(b_path)
    if a.shape != b.shape:
        return float("inf")
    return float(np.max(np.abs(a.astype(np.float64) - b.astype(np.float64))))


def best_of(results):
    ok = [r for r in results if "median_ms" in r]
    return min(ok, key=lambda r: r["median_ms"]) if ok else None


def run_model(args, name, spec, peers_available, records, skips, extra):
    model_dir = os.path.join(args.build, "bench", "models", name)
    log(f"== export {name}")
    p = subprocess.run([sys.executable, os.path.join(HERE, "export_models.py"),
                        spec, "--out", model_dir, "--seq-len", str(SEQ_LEN)],
                       cwd=ROOT, capture_output=True, text=True)
    if p.returncode != 0:
        skips.append(f"e2e/{name}: export failed: {p.stderr.strip()[-400:]}")
        return
    log(p.stdout.strip())
    with open(os.path.join(ROOT, model_dir, "export.json")) as f:
        exported = json.load(f)
    artifact = os.path.join(model_dir, "xfc")
    compile_s, compile_log = compile_xfc(
        args, os.path.join(model_dir, "spec.json"), artifact)
    if compile_s is None:
        skips.append(f"e2e/{name}: xfc compile failed: {compile_log}")
        return
    extra.setdefault("compile_logs", {})[name] = compile_log
    if name == "bert-base":
        records.append({"name": "compile/bert-base", "unit": "s",
                        "xfc": compile_s, "peers": {},
                        "note": "wall time of `xfc compile` at seq 128, "
                                "weights read from safetensors (415 MiB), "
                                "whole process"})

    # Memory: the manifest's memory plan, when the compiler writes one.
    with open(os.path.join(ROOT, artifact, "manifest.json")) as f:
        manifest = json.load(f)
    plan = manifest.get("memory_plan")
    if isinstance(plan, dict) and all(k in plan for k in
                                      ("arena_bytes", "lower_bound_bytes",
                                       "naive_bytes")):
        records.append({"name": f"memory/{name}/seq{SEQ_LEN}",
                        "unit": "bytes", "xfc": plan["arena_bytes"],
                        "peers": {"lower_bound": plan["lower_bound_bytes"],
                                  "naive": plan["naive_bytes"]}})
    else:
        skips.append(f"memory/{name}/seq{SEQ_LEN}: the manifest has no "
                     f"memory_plan section (arena, lower_bound, naive) in "
                     f"this build; not recorded")

    outputs = os.path.join(model_dir, "outputs")
    os.makedirs(os.path.join(ROOT, outputs), exist_ok=True)
    n_all = all_threads()
    thread_counts = sorted({1, max(1, n_all // 2), n_all})
    # Every configuration: (peer, variant, threads), every peer (xfc too)
    # at each thread count. PyTorch: the spec module, and for BERT-like
    # encoders also nn.TransformerEncoder's fused inference path; the
    # faster counts.
    configs = []
    variants = [("xfc", None), ("onnxruntime", None), ("pytorch", "spec")]
    if exported.get("pytorch_fastpath"):
        variants.append(("pytorch", "fastpath"))
    configs += [(peer, variant, t) for peer, variant in variants
                if peer == "xfc" or peers_available[peer]
                for t in thread_counts]
    # Rounds interleave the configurations, so a burst of load from another
    # process on a shared machine falls on all of them alike; each round is
    # a fresh process with its own warm-up, and the median is taken over
    # the runs of every round together.
    merged = {}
    for rnd in range(args.rounds):
        for peer, variant, t in configs:
            tag = "-".join(str(x) for x in (peer, variant, t) if x)
            log(f"== time {name}: {tag} (round {rnd + 1}/{args.rounds})")
            r = run_child(args, peer, model_dir, t,
                          os.path.join(outputs, tag + ".npy"),
                          artifact=artifact if peer == "xfc" else None,
                          variant=variant)
            r["output_file"] = tag + ".npy"
            prev = merged.get(tag)
            if prev is None or "skipped" in r or "skipped" in prev:
                merged[tag] = prev if prev and "skipped" in prev else r
            else:
                prev["times_ms"] += r["times_ms"]
            merged[tag]["peer"] = peer
    measured = {"xfc": [], "onnxruntime": [], "pytorch": []}
    for r in merged.values():
        if "times_ms" in r:
            ms = sorted(r["times_ms"])
            r.update(median_ms=ms[len(ms) // 2], min_ms=ms[0],
                     max_ms=ms[-1], runs=len(ms))
        measured[r["peer"]].append(r)
    best = {k: best_of(v) for k, v in measured.items()}
    if best["xfc"] is None:
        skips.append(f"e2e/{name}: xfc run failed: "
                     f"{measured['xfc'][0].get('skipped')}")
        return
    for peer, results in measured.items():
        for r in results:
            if "skipped" in r:
                skips.append(f"e2e/{name}: {r['skipped']}")
    ref = os.path.join(ROOT, model_dir, "torch_output.npy")
    diffs = {}
    for peer in ("xfc", "onnxruntime", "pytorch"):
        if best[peer]:
            diffs[peer] = max_abs_diff(
                os.path.join(ROOT, outputs, best[peer]["output_file"]), ref)
    record = {
        "name": f"e2e/{name}/seq{SEQ_LEN}", "unit": "ms",
        "xfc": best["xfc"]["median_ms"],
        "peers": {p: best[p]["median_ms"] for p in ("onnxruntime", "pytorch")
                  if best[p]},
        "threads": {p: best[p]["threads"] for p in best if best[p]},
        "all_measurements": {p: [{k: v for k, v in r.items()
                                  if k in ("threads", "median_ms", "min_ms",
                                           "runs", "skipped", "variant")}
                                 for r in rs] for p, rs in measured.items()},
        "variants": {p: best[p]["variant"] for p in best
                     if best[p] and "variant" in best[p]},
        "runs": best["xfc"]["runs"], "rounds": args.rounds,
        "warmup_per_round": args.warmup, "batch": 1,
        "flops": exported["flops"],
        "max_abs_diff_vs_pytorch_reference": diffs,
    }
    for p in ("onnxruntime", "pytorch"):
        if best[p]:
            extra.setdefault("versions", {})[p] = best[p].get("version")
            if p == "pytorch":
                extra["versions"]["pytorch_blas"] = best[p].get("blas")
    records.append(record)


def command_args(argv):
    """The options that reproduce the run (the --note text left out)."""
    out, skip = [], False
    for a in argv:
        if skip:
            skip = False
        elif a == "--note":
            skip = True
        elif not a.startswith("--note="):
            out.append(a)
    return out


def remeasured_stamp(load_start, **extra):
    """When, how and on what a part of --results was measured again (the
    report prints it above that part)."""
    stamp = {
        "date": datetime.datetime.now(datetime.timezone.utc).strftime(
            "%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/run.py"] + command_args(sys.argv[1:])),
    }
    stamp.update(extra)
    stamp.update(xfc=git_revision(), load_average_at_start=load_start,
                 load_average_at_end=list(os.getloadavg()))
    return stamp


def remeasure_attention(args):
    """--attention-only: the attention records of --results measured anew,
    its other records kept (the report says when each part was taken)."""
    os.chdir(ROOT)
    with open(args.results) as f:
        doc = json.load(f)
    sys.path.insert(0, HERE)
    import attention_bench
    import report
    records, skips = [], []
    load_start = list(os.getloadavg())
    attention_bench.run_attention(args, records, skips, have_module("torch"))
    doc["records"] = [r for r in doc["records"]
                      if not r["name"].startswith("attention/")] + records
    doc["skipped"] = [s for s in doc.get("skipped", [])
                      if not s.startswith("attention")] + skips
    doc["attention_remeasured"] = remeasured_stamp(load_start)
    print("wrote " + report.write_all(doc, args.results, args.report_dir,
                                      doc.get("compile_logs", {})))


def set_rooflines(doc):
    """The e2e records' roofline: their FLOPs at the best OpenBLAS rate of
    the document's GEMM records."""
    blas = [max(r["peers"].values()) for r in doc["records"]
            if r["name"].startswith("gemm/")]
    best_blas = max(blas) if blas else None
    for r in doc["records"]:
        if r["name"].startswith("e2e/"):
            r["roofline_ms"] = (r["flops"] / (best_blas * 1e9) * 1e3
                                if best_blas else None)
            r["roofline_gflops"] = best_blas


def remeasure_gemm(args):
    """--gemm-only: the GEMM records of --results measured anew (and the
    e2e rooflines, which use their best OpenBLAS rate), the others kept."""
    os.chdir(ROOT)
    with open(args.results) as f:
        doc = json.load(f)
    args.gemm_shapes = GEMM_SHAPES
    load_start = list(os.getloadavg())
    gemm, why = run_gemm(args)
    if gemm is None:
        sys.exit("run.py: " + why)
    doc["records"] = [r for r in doc["records"]
                      if not r["name"].startswith("gemm/")] + gemm_records(gemm)
    doc["skipped"] = [s for s in doc.get("skipped", [])
                      if not s.startswith("gemm")]
    doc.setdefault("versions", {})["openblas"] = gemm["openblas_config"]
    doc["versions"]["openblas_core"] = gemm["openblas_corename"]
    set_rooflines(doc)
    doc["gemm_remeasured"] = remeasured_stamp(load_start)
    sys.path.insert(0, HERE)
    import report
    print("wrote " + report.write_all(doc, args.results, args.report_dir,
                                      doc.get("compile_logs", {})))


def remeasure_decode(args):
    """--decode-only: the decode/gpt2-small records of --results measured
    anew, the others kept."""
    os.chdir(ROOT)
    with open(args.results) as f:
        doc = json.load(f)
    sys.path.insert(0, HERE)
    import decode_bench
    records, skips = [], []
    load_start = list(os.getloadavg())
    decode_bench.run_decode(args, records, skips, have_module("torch"))
    doc["records"] = [r for r in doc["records"]
                      if not r["name"].startswith("decode/")] + records
    doc["skipped"] = [s for s in doc.get("skipped", [])
                      if not s.startswith("decode/")] + skips
    doc["decode_remeasured"] = remeasured_stamp(load_start)
    sys.path.insert(0, HERE)
    import report
    print("wrote " + report.write_all(doc, args.results, args.report_dir,
                                      doc.get("compile_logs", {})))


def remeasure_models(args):
    """--models-only: the e2e, memory and compile records of the models in
    --models measured anew in --results, its other records (GEMM,
    attention, other models) kept; the report says when each part was
    taken."""
    os.chdir(ROOT)
    with open(args.results) as f:
        doc = json.load(f)
    names = [n for n in args.models.split(",") if n]
    for name in names:
        if name not in MODELS and name not in EXTRA_MODELS:
            sys.exit(f"run.py: unknown model {name!r} (expected one of "
                     f"{', '.join(list(MODELS) + list(EXTRA_MODELS))})")
    peers_available = {peer: have_module(module) for peer, module in
                       (("onnxruntime", "onnxruntime"), ("pytorch", "torch"))}
    if not peers_available["pytorch"]:
        sys.exit("run.py: --models-only needs PyTorch to build and export "
                 "the models")
    records, skips, extra = [], [], {"versions": {}}
    load_start = list(os.getloadavg())
    for name in names:
        run_model(args, name, MODELS.get(name, EXTRA_MODELS.get(name)),
                  peers_available, records, skips, extra)
    def of_these_models(text):
        parts = text.split(":")[0].split("/")
        return (len(parts) > 1 and parts[0] in ("e2e", "memory", "compile")
                and parts[1] in names)

    doc["records"] = [r for r in doc["records"]
                      if not of_these_models(r["name"])] + records
    doc["skipped"] = [s for s in doc.get("skipped", [])
                      if not of_these_models(s)] + skips
    logs = doc.setdefault("compile_logs", {})
    for name in names:
        logs.pop(name, None)
    logs.update(extra.get("compile_logs", {}))
    doc.setdefault("versions", {}).update(extra["versions"])
    set_rooflines(doc)
    doc["models_remeasured"] = remeasured_stamp(load_start, models=names)
    sys.path.insert(0, HERE)
    import report
    print("wrote " + report.write_all(doc, args.results, args.report_dir,
                                      logs))


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "_measure":
        return child_main(sys.argv[2:])
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--build", default="build")
    p.add_argument("--repeat", type=int, default=5,
                   help="timed runs per configuration and round")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds over all configurations")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--models", default=",".join(MODELS))
    p.add_argument("--skip-gemm", action="store_true")
    p.add_argument("--skip-attention", action="store_true")
    p.add_argument("--skip-decode", action="store_true",
                   help="leave out the decode/gpt2-small records "
                        "(bench/decode_bench.py)")
    p.add_argument("--attention-only", action="store_true",
                   help="measure only the attention records and replace "
                        "them in --results, keeping its other records")
    p.add_argument("--decode-only", action="store_true",
                   help="measure only the decode/gpt2-small records and "
                        "replace them in --results, keeping its other "
                        "records")
    p.add_argument("--gemm-only", action="store_true",
                   help="measure only the GEMM records and replace them in "
                        "--results (with the e2e rooflines), keeping its "
                        "other records")
    p.add_argument("--models-only", action="store_true",
                   help="measure only the end-to-end, memory and compile "
                        "records of --models and replace them in "
                        "--results, keeping its other records")
    p.add_argument("--attention-lengths",
                   default="1024,2048,4096,8192,16384",
                   help="sequence lengths of the attention records")
    p.add_argument("--quick", action="store_true",
                   help="few GEMM runs (a smoke test; not for reports)")
    p.add_argument("--results", default="bench/results.json")
    p.add_argument("--report-dir", default="bench/reports")
    p.add_argument("--note", default="",
                   help="a line for the report (e.g. the machine's state)")
    p.add_argument("--render-only", action="store_true",
                   help="measure nothing: rewrite the report and plots from "
                        "the records of --results")
    args = p.parse_args()
    if args.render_only:
        os.chdir(ROOT)
        with open(args.results) as f:
            doc = json.load(f)
        sys.path.insert(0, HERE)
        import report
        print("wrote " + report.write_all(doc, args.results, args.report_dir,
                                          doc.get("compile_logs", {})))
        return
    if args.attention_only:
        return remeasure_attention(args)
    if args.gemm_only:
        return remeasure_gemm(args)
    if args.decode_only:
        return remeasure_decode(args)
    if args.models_only:
        return remeasure_models(args)
    args.gemm_shapes = GEMM_SHAPES
    if args.repeat < 1 or args.rounds < 1:
        sys.exit("run.py: --repeat and --rounds must be at least 1")
    if args.repeat * args.rounds < 10 and not args.quick:
        sys.exit("run.py: at least 10 timed runs per configuration are "
                 "needed (--repeat x --rounds; use --quick for a smoke "
                 "test)")
    os.chdir(ROOT)
    for needed in (os.path.join(args.build, "bin", "xfc"),
                   os.path.join(args.build, "lib", "libxfc_runtime.so")):
        if not os.path.exists(needed):
            sys.exit(f"run.py: {needed} not found: build xfc first "
                     f"(`make bench` does), or pass --build DIR")
    started = datetime.datetime.now(datetime.timezone.utc)
    machine = machine_info()
    log(f"machine: {machine['cpu']}, {machine['cores']} cores, "
        f"{' '.join(machine['simd'])}, load {machine['load_average_at_start']}")

    records, skips, extra = [], [], {"versions": {}}
    peers_available = {}
    for peer, module in (("onnxruntime", "onnxruntime"),
                         ("pytorch", "torch")):
        peers_available[peer] = have_module(module)
        if not peers_available[peer]:
            skips.append(f"{peer}: `import {module}` fails with "
                         f"{sys.executable}; its records are left out")

    gemm = None
    if not args.skip_gemm:
        gemm, why = run_gemm(args)
        if gemm is None:
            skips.append("gemm: " + why)
        else:
            records += gemm_records(gemm)
            extra["versions"]["openblas"] = gemm["openblas_config"]
            extra["openblas_corename"] = gemm["openblas_corename"]

    best_blas = None
    if gemm:
        best_blas = max(max(r["openblas_b_nk"]["gflops"],
                            r["openblas_b_kn"]["gflops"])
                        for r in gemm["results"])
    if peers_available["pytorch"]:
        for name in args.models.split(","):
            spec = MODELS.get(name, EXTRA_MODELS.get(name))
            if spec is None:
                sys.exit(f"run.py: unknown model {name!r} (expected one of "
                         f"{', '.join(list(MODELS) + list(EXTRA_MODELS))})")
            run_model(args, name, spec, peers_available, records, skips,
                      extra)
    else:
        skips.append("e2e: PyTorch is needed to build and export the models")
    if not args.skip_decode:
        sys.path.insert(0, HERE)
        import decode_bench
        decode_bench.run_decode(args, records, skips,
                                peers_available["pytorch"])
    if not args.skip_attention:
        sys.path.insert(0, HERE)
        import attention_bench
        attention_bench.run_attention(args, records, skips,
                                      peers_available["pytorch"])

    for r in records:
        if r["name"].startswith("e2e/"):
            r["roofline_ms"] = (r["flops"] / (best_blas * 1e9) * 1e3
                                if best_blas else None)
            r["roofline_gflops"] = best_blas

    machine["load_average_at_end"] = list(os.getloadavg())
    extra["versions"]["python"] = platform.python_version()
    extra["versions"]["xfc"] = git_revision()
    doc = {
        "machine": (f"{machine['cpu']}, {machine['cores']} cores, "
                    f"{' '.join(machine['simd'])}"),
        "machine_details": machine,
        "date": started.strftime("%Y-%m-%d %H:%M UTC"),
        "command": " ".join(["bench/run.py"] + command_args(sys.argv[1:])),
        "versions": extra["versions"],
        "thread_policy": ("each peer at its best measured thread count among "
                          f"1 and {all_threads()} (recorded per record); "
                          "xfc's count is its run context's num_threads"),
        "note": args.note,
        "skipped": skips,
        "records": records,
        "compile_logs": extra.get("compile_logs", {}),
    }
    if "openblas_corename" in extra:
        doc["versions"]["openblas_core"] = extra["openblas_corename"]

    sys.path.insert(0, HERE)
    import report
    report_path = report.write_all(doc, args.results, args.report_dir,
                                   extra.get("compile_logs", {}))
    print(report.summary_table(doc))
    for s in skips:
        print("skipped: " + s)
    print(f"wrote {args.results} and {report_path}")


if __name__ == "__main__":
    main()
