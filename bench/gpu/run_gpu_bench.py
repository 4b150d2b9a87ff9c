#!/usr/bin/python3
"""xfc on an NVIDIA GPU against PyTorch, in one run: bench/gpu-results.json.

Two steps, because the GPU machine has no LLVM (bench/gpu/README.md):

  prepare   on the build machine (no GPU needed): copies xfc-gpu-bench-run
            and libxfc_runtime.so, writes every kernel case's PTX and cubin
            (xfc-gpu-bench --emit-kernels) and compiles the end-to-end models
            for the GPU (xfc compile --target=cuda), keeping only the header
            of their weights files; all of it into one folder (default
            build/gpu-bench) and its archive (build/gpu-bench.tar.xz, about
            10 MB), which travels to the GPU machine.

  run       on the GPU machine (python3 with torch and numpy): runs the
            kernels (xfc-gpu-bench-run), times PyTorch's peers in this
            process (scaled_dot_product_attention on the flash backend,
            torch.matmul), refills the models' weights with random values
            (any values of the recorded layout open; the header's checksum
            is what the runtime checks), times them through the runtime's C
            API against the same spec in PyTorch, eager and torch.compile,
            and writes bench/gpu-results.json (and a copy and a log into
            --out).

Every GPU time is a median after warm-up: CUDA events around each launch
for kernels (inputs rotated when a set fits twice in L2), the host clock
around a whole run for the models (inputs from host memory to outputs in
host memory, on both sides).

usage: bench/gpu/run_gpu_bench.py prepare [--build build] [--out build/gpu-bench]
       bench/gpu/run_gpu_bench.py run [--prepared build/gpu-bench[.tar.xz]] [--out DIR]
                                      [--quick] [--skip-e2e] [--skip-kernels]
"""
import argparse
import contextlib
import datetime
import json
import os
import platform
import shutil
import statistics
import struct
import subprocess
import sys
import tarfile
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The end-to-end cases: (record model name, spec, batch, sequence length,
# xfc compile --dtype). f16 runs the GEMMs and attention on tensor cores;
# its PyTorch peers run under torch.autocast(float16), the same split of
# work between f16 and f32.
E2E_CASES = [
    ("bert-base", "models/bert-base-uncased.json", 1, 128, "f32"),
    ("bert-base", "models/bert-base-uncased.json", 8, 128, "f32"),
    ("bert-base", "models/bert-base-uncased.json", 1, 128, "f16"),
    ("bert-base", "models/bert-base-uncased.json", 8, 128, "f16"),
    ("gpt2-small", "models/gpt2-small.json", 1, 128, "f32"),
    ("gpt2-small", "models/gpt2-small.json", 1, 1024, "f32"),
    ("gpt2-small", "models/gpt2-small.json", 1, 128, "f16"),
    ("gpt2-small", "models/gpt2-small.json", 1, 1024, "f16"),
]
# prepare --smoke: the demo model, for a test of the whole flow.
E2E_SMOKE_CASES = [("example-tiny-bert", "models/example-tiny-bert.json", 2, 16, "f32"),
                   ("example-tiny-bert", "models/example-tiny-bert.json", 2, 16, "f16")]

# The PyTorch goldens of tests/e2e/golden run on the GPU before anything is
# timed (the same cases tests/e2e/GpuGoldenTest.cpp runs with the device
# code on the CPU): (model folder, shape folder, xfc compile --dtype).
# Tolerances as that test's, absolute on the rows the goldens define: f32
# as the CPU suite's, f16 and bf16 those of their rounding (docs/gpu.md,
# "Precision").
GOLDEN_CASES = [("bert_like", "s7", "f32"), ("bert_like", "s77", "f32"),
                ("gpt_like", "s7", "f32"), ("gpt_like", "s77", "f32"),
                ("transformer_aiayn", "s7_t5", "f32"),
                ("transformer_aiayn", "s77_t13", "f32"),
                ("bert_like", "s77", "f16"), ("gpt_like", "s77", "f16"),
                ("transformer_aiayn", "s77_t13", "f16"),
                ("bert_like", "s7", "bf16"), ("gpt_like", "s7", "bf16")]
GOLDEN_SMOKE_CASES = [("bert_like", "s7", "f32"), ("bert_like", "s7", "f16")]
GOLDEN_TOLERANCES = {"f32": 1e-4, "f16": 2e-2, "bf16": 8e-2}


def log(*parts):
    print(*parts, file=sys.stderr, flush=True)


def git_revision():
    try:
        return subprocess.run(["git", "-C", ROOT, "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True,
                              check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"


def e2e_folder(model, batch, seq, dtype):
    return f"{model}-b{batch}s{seq}" + ("" if dtype == "f32" else "-" + dtype)


# ---------------------------------------------------------------------------
# prepare
# ---------------------------------------------------------------------------

def split_weights(artifact):
    """Replaces the artifact's weights.safetensors by weights.header (its
    first 8 + header-length bytes): the run step rebuilds a file of the
    manifest's size around it."""
    path = os.path.join(artifact, "weights.safetensors")
    with open(path, "rb") as f:
        length = struct.unpack("<Q", f.read(8))[0]
        f.seek(0)
        header = f.read(8 + length)
    with open(os.path.join(artifact, "weights.header"), "wb") as f:
        f.write(header)
    os.remove(path)


def folder_bytes(path):
    total = 0
    for dirpath, _, files in os.walk(path):
        for name in files:
            total += os.path.getsize(os.path.join(dirpath, name))
    return total


def prepare_golden(args, build, out, model, shape, dtype):
    """Compiles golden case `model`/`shape` for the GPU with --dtype
    `dtype` into OUT/goldens/MODEL_SHAPE[_DTYPE], with the case's inputs
    and expected output."""
    import re
    source = os.path.join(ROOT, "tests", "e2e", "golden", model)
    name = f"{model}_{shape}" + ("" if dtype == "f32" else "_" + dtype)
    folder = os.path.join(out, "goldens", name)
    sizes = re.fullmatch(r"s(\d+)(?:_t(\d+))?", shape)
    first = "src_ids.npy" if sizes.group(2) else "input_ids.npy"
    with open(os.path.join(source, shape, first), "rb") as f:
        # The batch is the first dimension of the first input (.npy v1).
        header = f.read(256).decode("latin-1")
        batch = int(re.search(r"'shape': \((\d+),", header).group(1))
    command = [os.path.join(build, "bin", "xfc"), "compile",
               os.path.join(source, "spec.json"), "-o", folder,
               "--target=cuda", "--gpu-arch=" + args.gpu_arch,
               "--cpu", "x86-64-v3", "--batch", str(batch),
               "--seq-len", sizes.group(1), "--dtype=" + dtype, "--force"]
    if sizes.group(2):
        command += ["--tgt-len", sizes.group(2)]
    log(f"prepare: golden {name}")
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    shutil.copytree(os.path.join(source, shape), os.path.join(folder, "golden"))
    # The shapes of one model store the same weights: all but the first
    # name the folder holding them (weights.same_as), which keeps what is
    # copied to the GPU machine small; goldens-xfc copies them back.
    weights = os.path.join(folder, "weights.safetensors")
    goldens = os.path.dirname(folder)
    for other in sorted(os.listdir(goldens)):
        first = os.path.join(goldens, other, "weights.safetensors")
        if (other.startswith(model + "_") and other != name and
                os.path.exists(first) and
                subprocess.run(["cmp", "-s", first, weights]).returncode == 0):
            os.remove(weights)
            with open(os.path.join(folder, "weights.same_as"), "w") as f:
                f.write(other + "\n")
            break
    with open(os.path.join(source, "spec.json")) as f:
        spec = json.load(f)
    # Rows the goldens define: all, except the padded positions of a padded
    # encoder or decoder (tests/e2e/GoldenCase.h).
    padded_rows = (spec.get("kind") != "encoder_decoder" and
                   bool(spec.get("key_padding_mask")))
    return {"name": name, "folder": os.path.relpath(folder, out),
            "padded_rows": padded_rows, "dtype": dtype,
            "tolerance": GOLDEN_TOLERANCES[dtype]}


def prepare(args):
    build = os.path.abspath(args.build)
    out = os.path.abspath(args.out)
    if os.path.exists(out):
        shutil.rmtree(out)
    os.makedirs(os.path.join(out, "bin"))
    os.makedirs(os.path.join(out, "lib"))
    t0 = time.time()
    shutil.copy2(os.path.join(build, "bin", "xfc-gpu-bench-run"),
                 os.path.join(out, "bin"))
    shutil.copyfile(os.path.realpath(os.path.join(build, "lib", "libxfc_runtime.so")),
                    os.path.join(out, "lib", "libxfc_runtime.so"))
    log(f"prepare: kernels for {args.gpu_arch}")
    # sm_90a: every GEMM also on warpgroup MMA, side by side with mma.sync.
    wgmma = args.gpu_arch == "sm_90a"
    subprocess.run([os.path.join(build, "bin", "xfc-gpu-bench"), "--emit-kernels",
                    os.path.join(out, "kernels"), "--gpu-arch", args.gpu_arch] +
                   (["--smoke"] if args.smoke else []) +
                   (["--wgmma"] if wgmma else []) +
                   # Both query tiles of the attention kernel, side by side.
                   ["--attention-tiles"], check=True)
    e2e = []
    if not args.skip_e2e:
        for model, spec, batch, seq, dtype in (E2E_SMOKE_CASES if args.smoke
                                               else E2E_CASES):
            folder = os.path.join(out, "e2e", e2e_folder(model, batch, seq, dtype))
            log(f"prepare: xfc compile {spec} batch {batch} seq {seq} dtype {dtype}")
            t = time.time()
            # The host code for any x86-64 of the last decade: the GPU
            # machine's CPU is not this one.
            subprocess.run([os.path.join(build, "bin", "xfc"), "compile",
                            os.path.join(ROOT, spec), "-o", folder,
                            "--target=cuda", "--gpu-arch=" + args.gpu_arch,
                            "--cpu", "x86-64-v3", "--batch", str(batch),
                            "--seq-len", str(seq), "--dtype=" + dtype, "--force"],
                           check=True, stdout=subprocess.DEVNULL)
            compile_s = time.time() - t
            split_weights(folder)
            e2e.append({"model": model, "spec": spec, "batch": batch,
                        "seq": seq, "dtype": dtype,
                        "folder": os.path.relpath(folder, out),
                        "compile_seconds": round(compile_s, 2)})
    goldens = []
    if not args.skip_goldens:
        for model, shape, dtype in (GOLDEN_SMOKE_CASES if args.smoke
                                    else GOLDEN_CASES):
            goldens.append(prepare_golden(args, build, out, model, shape, dtype))
    info = {"gpu_arch": args.gpu_arch, "wgmma": wgmma, "attention_tiles": True,
            "xfc": git_revision(),
            "smoke": args.smoke,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"),
            "e2e": e2e, "goldens": goldens}
    with open(os.path.join(out, "prepared.json"), "w") as f:
        json.dump(info, f, indent=1)
    size = folder_bytes(out)
    archive = pack(out)
    log(f"prepare: {out}: {size / 2**20:.1f} MiB, as {archive}: "
        f"{os.path.getsize(archive) / 2**20:.1f} MiB, in {time.time() - t0:.0f} s "
        f"(the archive is what travels to the GPU machine: keep it small)")


def pack(out):
    """OUT.tar.xz, the prepared folder as one archive: the PTX text and the
    cubins in the models' libraries compress about 4x."""
    archive = out + ".tar.xz"
    with tarfile.open(archive, "w:xz", preset=6) as tar:
        tar.add(out, arcname=os.path.basename(out))
    return archive


def unpack(path):
    """The prepared folder at `path`: the folder itself, or the archive
    `prepare` wrote, unpacked into a temporary folder."""
    if os.path.isdir(path):
        return path
    to = tempfile.mkdtemp(prefix="xfc-gpu-bench-prepared-")
    with tarfile.open(path, "r:*") as tar:
        try:
            tar.extractall(to, filter="data")
        except TypeError:  # Python without extraction filters.
            tar.extractall(to)
    (folder,) = os.listdir(to)
    log(f"run: {path} unpacked into {to}")
    return os.path.join(to, folder)


# ---------------------------------------------------------------------------
# run: the kernels and their peers
# ---------------------------------------------------------------------------

def kernel_runner(prepared, workdir):
    """The carried xfc-gpu-bench-run, or, when it cannot start on this
    machine (another C++ library), the same program built here from the
    tree: it needs only a C++17 compiler and libdl."""
    carried = os.path.join(prepared, "bin", "xfc-gpu-bench-run")
    try:
        probe = subprocess.run([carried, "--help"], capture_output=True, text=True)
        if "usage" in probe.stderr:
            return carried
        log("run: the carried xfc-gpu-bench-run does not start:", probe.stderr[-500:])
    except OSError as error:
        log("run: the carried xfc-gpu-bench-run does not start:", error)
    built = os.path.join(workdir, "xfc-gpu-bench-run")
    sources = ["bench/gpu/xfc-gpu-bench.cpp", "bench/gpu/GpuBench.cpp",
               "runtime/src/CudaDriver.cpp", "runtime/src/GpuModule.cpp"]
    cmd = [os.environ.get("CXX", "c++"), "-O2", "-std=c++17",
           "-DXFC_GPU_BENCH_RUN_ONLY", "-Iruntime/src", "-Icompiler/include",
           *sources, "-o", built, "-ldl", "-lpthread"]
    log("run: building it:", " ".join(cmd))
    subprocess.run(cmd, cwd=ROOT, check=True)
    return built


def text_of(output):
    """A TimeoutExpired's captured output (bytes even with text=True)."""
    if isinstance(output, bytes):
        return output.decode(errors="replace")
    return output or ""


def run_kernels(args, prepared, info, workdir):
    runner = kernel_runner(prepared, workdir)
    cmd = [runner, "--prepared", os.path.join(prepared, "kernels")]
    if info.get("wgmma"):
        cmd += ["--wgmma"]
    if info.get("attention_tiles"):
        cmd += ["--attention-tiles"]
    if info.get("smoke"):
        cmd += ["--smoke", "--warmup", "1", "--repeat", "3"]
    elif args.quick:
        cmd += ["--seq-lens", "1024,4096", "--gemm-rows", "4096", "--repeat", "10"]
    log("run:", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=args.kernel_timeout)
        stdout, stderr = proc.stdout, proc.stderr
        if proc.returncode not in (0, 1):
            log(f"run: xfc-gpu-bench-run exited with {proc.returncode}")
    except subprocess.TimeoutExpired as error:
        # The cases measured before the limit are kept.
        stdout, stderr = text_of(error.stdout), text_of(error.stderr)
        log(f"run: xfc-gpu-bench-run took over {args.kernel_timeout} s")
    sys.stderr.write(stderr)
    records = [json.loads(line) for line in stdout.splitlines()
               if line.startswith("{")]
    # Its first line names the GPU: "xfc-gpu-bench: NAME (compute ...".
    device = None
    for line in stderr.splitlines():
        if line.startswith("xfc-gpu-bench: ") and " (compute capability" in line:
            device = line[len("xfc-gpu-bench: "):line.index(" (compute capability")]
            break
    return records, device, " ".join(os.path.relpath(c, ROOT) if os.path.isabs(c) and
                             c.startswith(ROOT) else c for c in cmd)


def cuda_median_ms(torch, calls, warmup, repeat):
    """Median of `repeat` CUDA-event timings, rotating `calls`."""
    for i in range(warmup):
        calls[i % len(calls)]()
    starts = [torch.cuda.Event(enable_timing=True) for _ in range(repeat)]
    ends = [torch.cuda.Event(enable_timing=True) for _ in range(repeat)]
    for r in range(repeat):
        starts[r].record()
        calls[r % len(calls)]()
        ends[r].record()
    torch.cuda.synchronize()
    return statistics.median(s.elapsed_time(e) for s, e in zip(starts, ends))


def input_sets(torch, set_bytes):
    """As xfc-gpu-bench: enough sets for twice the L2, at most 8."""
    l2 = getattr(torch.cuda.get_device_properties(0), "L2_cache_size", 50 << 20)
    return max(1, min(8, -(-2 * l2 // set_bytes)))


def random_tensor(torch, shape, dtype, scale, generator):
    return ((torch.rand(shape, device="cuda", generator=generator) * 2 - 1)
            * scale).to(dtype)


def attention_peer(torch, record, generator, warmup, repeat):
    """PyTorch's scaled_dot_product_attention pinned to the flash backend,
    [B, H, L, d] in fp16 like xfc's kernel."""
    from torch.nn.attention import SDPBackend, sdpa_kernel
    import torch.nn.functional as F
    B, H, L, d = record["batch"], record["heads"], record["seq"], record["head_dim"]
    dtype = torch.float16 if record["dtype"] == "fp16" else torch.bfloat16
    causal = record["causal"]
    sets = input_sets(torch, 4 * B * H * L * d * 2)
    tensors = [[random_tensor(torch, (B, H, L, d), dtype, 2.0 if i < 2 else 1.0,
                              generator) for i in range(3)] for _ in range(sets)]
    with sdpa_kernel(SDPBackend.FLASH_ATTENTION):
        calls = [lambda q=q, k=k, v=v: F.scaled_dot_product_attention(
            q, k, v, is_causal=causal) for q, k, v in tensors]
        ms = cuda_median_ms(torch, calls, warmup, repeat)
    return ms


def gemm_peer(torch, record, generator, warmup, repeat):
    """torch.matmul (cuBLAS) of A [M, K] and B [K, N] in the record's
    dtype, its output in that dtype (xfc's kernel adds a bias and writes
    f32)."""
    M, N, K = record["M"], record["N"], record["K"]
    dtype = torch.float16 if record["dtype"] == "fp16" else torch.bfloat16
    sets = input_sets(torch, 2 * (M * K + K * N + M * N))
    tensors = [(random_tensor(torch, (M, K), dtype, 1.0, generator),
                random_tensor(torch, (K, N), dtype, 1.0, generator))
               for _ in range(sets)]
    calls = [lambda a=a, b=b: torch.matmul(a, b) for a, b in tensors]
    return cuda_median_ms(torch, calls, warmup, repeat)


def add_kernel_peers(torch, records, quick):
    generator = torch.Generator(device="cuda").manual_seed(0)
    warmup, repeat = (3, 10) if quick else (5, 30)
    # The peer of a shape, measured once: the same attention in both query
    # tiles, and the same GEMM on mma.sync and wgmma, share it.
    measured = {}
    for record in records:
        if record.get("xfc") is None:
            continue
        try:
            if record["name"].startswith("attention/"):
                record["xfc_kind"] = ("flash attention (GpuAttentionSpec), "
                                      "[B, H, L, d], O in the input dtype")
                shape = ("attention", record["dtype"], record["batch"],
                         record["heads"], record["seq"], record["head_dim"],
                         record["causal"])
                if shape not in measured:
                    measured[shape] = attention_peer(torch, record, generator,
                                                     warmup, repeat)
                peer, kind = "sdpa", ("torch.nn.functional.scaled_dot_product_attention"
                                      " under sdpa_kernel(SDPBackend.FLASH_ATTENTION)")
            else:
                record["xfc_kind"] = ("tensor-core GEMM (GpuGemmSpec, tile "
                                      f"{record.get('tile')}): C = A B + bias, "
                                      "C in f32")
                shape = ("gemm", record["dtype"], record["M"], record["N"],
                         record["K"])
                if shape not in measured:
                    measured[shape] = gemm_peer(torch, record, generator,
                                                warmup, repeat)
                peer, kind = "cublas", "torch.matmul (cuBLAS), output in the input dtype"
            ms = measured[shape]
        except Exception as error:  # A peer that fails is a note, not a stop.
            log(f"run: peer of {record['name']} failed: {error}")
            record["peer_error"] = str(error)
            continue
        record["peers"] = {peer: record["flops"] / (ms * 1e-3) / 1e12}
        record["peer_median_ms"] = {peer: ms}
        record["peer_kind"] = {peer: kind}
        torch.cuda.empty_cache()


# ---------------------------------------------------------------------------
# run: the end-to-end models
# ---------------------------------------------------------------------------

def rebuild_weights(np, artifact):
    """weights.safetensors again: the recorded header, then every tensor
    filled with N(0, 0.02^2) values in its dtype (the timing does not
    depend on the values; the runtime checks the header's checksum and the
    file's size on open)."""
    with open(os.path.join(artifact, "manifest.json")) as f:
        manifest = json.load(f)
    with open(os.path.join(artifact, "weights.header"), "rb") as f:
        header_bytes = f.read()
    header = json.loads(header_bytes[8:])
    size = manifest["weights_size_bytes"]
    data = bytearray(size - len(header_bytes))
    rng = np.random.default_rng(0)
    for name, entry in header.items():
        if name == "__metadata__":
            continue
        begin, end = entry["data_offsets"]
        if entry["dtype"] in ("F32", "F16", "BF16"):
            size = 4 if entry["dtype"] == "F32" else 2
            values = (rng.standard_normal((end - begin) // size, dtype=np.float32)
                      * np.float32(0.02))
            if entry["dtype"] == "F16":
                values = values.astype(np.float16)
            elif entry["dtype"] == "BF16":
                # bfloat16: the upper half of the f32 bits (truncated; any
                # values of the layout do for timing).
                values = (values.view(np.uint32) >> 16).astype(np.uint16)
            data[begin:end] = values.tobytes()
    with open(os.path.join(artifact, "weights.safetensors"), "wb") as f:
        f.write(header_bytes)
        f.write(data)


def host_median_ms(call, warmup, repeat, budget_s=10.0):
    """Median host time of `call` in ms and the number of timed runs:
    `repeat` runs after `warmup`, fewer (at least 3) when they would take
    more than `budget_s` (today's generic GPU kernels take a second or
    more for GPT-2 at 1024 tokens)."""
    for _ in range(warmup):
        call()
    times = []
    began = time.perf_counter()
    while len(times) < repeat and (len(times) < 3 or
                                   time.perf_counter() - began < budget_s):
        t = time.perf_counter()
        call()
        times.append((time.perf_counter() - t) * 1e3)
    return statistics.median(times), len(times)


def e2e_cases(info, quick):
    """(record name, case) of the prepared models; --quick keeps seq 128.
    The f16 and bf16 cases' names end in their dtype."""
    return [(f"e2e/{c['model']}/b{c['batch']}s{c['seq']}"
             + ("" if c.get("dtype", "f32") == "f32" else "/" + c["dtype"]), c)
            for c in info["e2e"] if not (quick and c["seq"] > 128)]


def e2e_inputs(np, em, spec, batch, seq):
    rng = np.random.default_rng(1)
    inputs = {"input_ids": rng.integers(0, spec["vocab_size"], (batch, seq)).astype(np.int32)}
    if "token_type_ids" in em.input_names(spec):
        inputs["token_type_ids"] = rng.integers(
            0, spec["token_type_vocab_size"], (batch, seq)).astype(np.int32)
    if "lengths" in em.input_names(spec):
        inputs["lengths"] = np.full((batch,), seq, dtype=np.int32)
    return inputs


def goldens_xfc(args):
    """The golden step, in a process of its own: every prepared golden case
    through the runtime's C API on the GPU, compared with PyTorch's output
    on the rows the goldens define; one JSON line each."""
    import numpy as np
    prepared = os.path.abspath(args.prepared)
    with open(os.path.join(prepared, "prepared.json")) as f:
        info = json.load(f)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    os.environ["XFC_RUNTIME_LIBRARY"] = os.path.join(prepared, "lib",
                                                     "libxfc_runtime.so")
    import xfc
    for case in info.get("goldens", []):
        folder = os.path.join(prepared, case["folder"])
        tolerance = case.get("tolerance", GOLDEN_TOLERANCES["f32"])
        result = {"name": "golden/" + case["name"], "unit": "max_abs_error",
                  "dtype": case.get("dtype", "f32"), "tolerance": tolerance}
        try:
            same_as = os.path.join(folder, "weights.same_as")
            if os.path.exists(same_as):
                with open(same_as) as f:
                    other = os.path.join(os.path.dirname(folder), f.read().strip())
                shutil.copyfile(os.path.join(other, "weights.safetensors"),
                                os.path.join(folder, "weights.safetensors"))
            golden = os.path.join(folder, "golden")
            expected = np.load(os.path.join(golden, "expected.npy"))
            with xfc.Model(folder) as model:
                inputs = {i.name: np.load(os.path.join(golden, i.name + ".npy"))
                          for i in model.inputs}
                result["device"] = model.device
                # Both ways of running: the launches replayed as one CUDA
                # graph (the default), and made one by one.
                outputs = {}
                for key, graph in (("xfc", True), ("xfc_no_graph", False)):
                    with model.context(gpu_graph=graph) as ctx:
                        outputs[key] = next(iter(ctx.run(**inputs).values()))
            valid = np.ones(expected.shape[:2], dtype=bool)
            if case["padded_rows"]:
                lengths = inputs["lengths"]
                valid = np.arange(expected.shape[1])[None, :] < lengths[:, None]
            for key, output in outputs.items():
                error = np.abs(output.astype(np.float64) - expected)[valid]
                result[key] = float(np.nanmax(np.where(np.isnan(error), np.inf,
                                                       error)))
            result["rows"] = int(valid.sum())
            result["passed"] = bool(max(result["xfc"], result["xfc_no_graph"])
                                    <= tolerance)
        except Exception as error:
            result["xfc_error"] = str(error)
            result["passed"] = False
        print(json.dumps(result), flush=True)


def run_goldens(args, prepared, records, write_results):
    """The golden records (numerics on the GPU), before anything is timed."""
    cmd = [sys.executable, os.path.abspath(__file__), "goldens-xfc",
           "--prepared", prepared]
    log("run:", " ".join(cmd))
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=args.e2e_timeout)
        sys.stderr.write(proc.stderr)
        lines = proc.stdout.splitlines()
    except subprocess.TimeoutExpired as error:
        log(f"run: the golden step took over {args.e2e_timeout} s")
        lines = text_of(error.stdout).splitlines()
    for line in lines:
        if line.startswith("{"):
            result = json.loads(line)
            records.append(result)
            log(f"run: {result['name']}: "
                + (f"max |xfc - PyTorch| = {result['xfc']:.3g} (graph), "
                   f"{result['xfc_no_graph']:.3g} (launches one by one)"
                   if "xfc_no_graph" in result
                   else result.get("xfc_error", "?"))
                + (" (passed)" if result.get("passed") else " (FAILED)"))
    write_results(False)


def e2e_repeats(quick):
    return (2, 5) if quick else (3, 20)


def device_profile(model, inputs, repeat):
    """Where a run's device time goes: a profiling context (each launch
    between two CUDA events, launched one by one) over `repeat` runs after
    one untimed run; ms per run by kind of kernel and the slowest kernels."""
    with model.context(profiling=True) as ctx:
        ctx.run(**inputs)
        ctx.reset_profile()
        for _ in range(repeat):
            ctx.run(**inputs)
        profile = ctx.profile()
    runs = max(profile.runs, 1)
    by_kind = {}
    for k in profile.kernels:
        by_kind[k.kernel.kind] = by_kind.get(k.kernel.kind, 0.0) + k.total_ns / runs / 1e6
    slowest = sorted(profile.kernels, key=lambda k: -k.total_ns)[:8]
    return {"runs": profile.runs,
            "wall_ms_per_run": round(profile.wall_ns / runs / 1e6, 4),
            "kernel_ms_per_run": round(profile.kernel_ns / runs / 1e6, 4),
            "ms_per_run_by_kind": {kind: round(ms, 4) for kind, ms in
                                   sorted(by_kind.items(), key=lambda kv: -kv[1])},
            "slowest": [{"kernel": k.kernel.name, "kind": k.kernel.kind,
                         "ms_per_run": round(k.total_ns / runs / 1e6, 4),
                         "tflops": round(k.kernel.flops * runs / k.total_ns / 1e3, 2)
                         if k.total_ns > 0 else None}
                        for k in slowest]}


def e2e_xfc(args):
    """The e2e-xfc step, in a process of its own (a kernel that faults
    leaves the process's CUDA context unusable, PyTorch's too): every
    prepared model through the runtime's C API, one JSON line each."""
    import numpy as np
    prepared = os.path.abspath(args.prepared)
    with open(os.path.join(prepared, "prepared.json")) as f:
        info = json.load(f)
    sys.path.insert(0, os.path.join(ROOT, "python"))
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    os.environ["XFC_RUNTIME_LIBRARY"] = os.path.join(prepared, "lib",
                                                     "libxfc_runtime.so")
    import xfc
    import export_models as em
    warmup, repeat = e2e_repeats(args.quick)
    for name, case in e2e_cases(info, args.quick):
        artifact = os.path.join(prepared, case["folder"])
        result = {"name": name}
        try:
            with open(os.path.join(ROOT, case["spec"])) as f:
                spec = em.spec_defaults(json.load(f))
            inputs = e2e_inputs(np, em, spec, case["batch"], case["seq"])
            t = time.time()
            rebuild_weights(np, artifact)
            log(f"run: {name}: weights rebuilt in {time.time() - t:.1f} s")
            with xfc.Model(artifact) as model:
                # The default, each run one CUDA graph launch; then the
                # same launches made one by one.
                for key, graph in (("xfc", True), ("xfc_no_graph", False)):
                    try:
                        with model.context(gpu_graph=graph) as ctx:
                            ms, runs = host_median_ms(
                                lambda: ctx.run(**inputs), warmup, repeat)
                            result[key] = ms
                            if graph:
                                result["runs"] = runs
                                result["graph_launches"] = ctx.gpu_graph_launches
                    except Exception as error:
                        result[key + "_error"] = str(error)
                try:
                    result["profile"] = device_profile(model, inputs, repeat)
                except Exception as error:
                    result["profile_error"] = str(error)
        except Exception as error:
            result["xfc_error"] = str(error)
        finally:
            weights = os.path.join(artifact, "weights.safetensors")
            if os.path.exists(weights):
                os.remove(weights)
        print(json.dumps(result), flush=True)


def run_e2e(args, prepared, info, deadline, torch, records, write_results):
    """The end-to-end records, appended to `records` one by one (each
    followed by write_results)."""
    import numpy as np
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    import export_models as em

    cmd = [sys.executable, os.path.abspath(__file__), "e2e-xfc", "--prepared",
           prepared] + (["--quick"] if args.quick else [])
    log("run:", " ".join(cmd))
    xfc_results = {}
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True,
                              timeout=args.e2e_timeout)
        sys.stderr.write(proc.stderr)
        for line in proc.stdout.splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                xfc_results[result["name"]] = result
        if proc.returncode:
            log(f"run: the e2e-xfc step exited with {proc.returncode}")
    except subprocess.TimeoutExpired as error:
        log(f"run: the e2e-xfc step took over {args.e2e_timeout} s")
        sys.stderr.write(text_of(error.stderr))
        for line in text_of(error.stdout).splitlines():
            if line.startswith("{"):
                result = json.loads(line)
                xfc_results[result["name"]] = result

    warmup, repeat = e2e_repeats(args.quick)
    cached = {}
    for name, case in e2e_cases(info, args.quick):
        result = xfc_results.get(name, {"xfc_error": "no result (the step "
                                                     "stopped before it)"})
        dtype = case.get("dtype", "f32")
        half = dtype != "f32"
        record = {"name": name, "unit": "ms", "xfc": result.get("xfc"),
                  "peers": {}, "batch": case["batch"], "seq": case["seq"],
                  "dtype": dtype,
                  "xfc_kind": "xfc compile --target=cuda --dtype=" + dtype +
                              " (tuned kernels where they fit, the generic "
                              "mapping elsewhere), run through "
                              "libxfc_runtime.so: inputs uploaded, the "
                              "kernel launches replayed as one CUDA graph, "
                              "outputs downloaded (xfc_no_graph: the same "
                              "launches made one by one)",
                  "xfc_no_graph": result.get("xfc_no_graph"),
                  "graph_launches": result.get("graph_launches"),
                  "peer_kind": {"pytorch": "the spec in PyTorch (bench/"
                                "export_models.py SpecModel), fp32 weights, "
                                + ("torch.autocast(float16), " if half else
                                   "fp32, ") + "eager",
                                "torch_compile": "the same, torch.compile "
                                "(default mode)"},
                  "runs": result.get("runs"), "warmup": warmup,
                  "xfc_compile_seconds": case.get("compile_seconds")}
        for key in ("xfc_error", "xfc_no_graph_error", "profile",
                    "profile_error"):
            if key in result:
                record[key] = result[key]
        records.append(record)
        with open(os.path.join(ROOT, case["spec"])) as f:
            spec = em.spec_defaults(json.load(f))
        inputs = e2e_inputs(np, em, spec, case["batch"], case["seq"])
        # PyTorch, eager then compiled: inputs from host memory, the output
        # back in host memory, as xfc's run.
        if torch is None:
            log(f"run: {name}: xfc {record['xfc']} ms (launched one by one: "
                f"{record['xfc_no_graph']} ms; no peers)")
            write_results(False)
            continue
        try:
            # One module per model (its cases share it and its compiled
            # form, which compiles again for each new shape).
            if cached.get("model") != case["model"]:
                cached.clear()
                torch._dynamo.reset()
                torch.cuda.empty_cache()
                weights = {k: v.cuda() for k, v in em.random_weights(spec, 0).items()}
                cached.update(model=case["model"], compiled=None,
                              module=em.SpecModel(spec, weights).cuda().eval())
            module = cached["module"]
            names = em.input_names(spec)

            def torch_run(fn):
                args_ = [torch.from_numpy(inputs["input_ids"].astype(np.int64)).cuda()]
                args_.append(torch.from_numpy(inputs["token_type_ids"].astype(np.int64)).cuda()
                             if "token_type_ids" in names else None)
                args_.append(torch.from_numpy(inputs["lengths"].astype(np.int64)).cuda()
                             if "lengths" in names else None)
                return fn(*args_).cpu()

            # f16 and bf16 against autocast: matmuls and attention in the
            # half type, the rest in f32, as xfc --dtype does.
            autocast = (torch.autocast("cuda", dtype=torch.float16 if dtype == "f16"
                                       else torch.bfloat16)
                        if half else contextlib.nullcontext())
            with torch.no_grad(), autocast:
                ms, runs = host_median_ms(lambda: torch_run(module), warmup,
                                          repeat)
                record["peers"]["pytorch"] = ms
                record["peer_runs"] = {"pytorch": runs}
                if time.time() > deadline:
                    record["peer_notes"] = "torch_compile skipped: time budget"
                else:
                    t = time.time()
                    if cached["compiled"] is None:
                        cached["compiled"] = torch.compile(module, dynamic=False)
                    compiled = cached["compiled"]
                    torch_run(compiled)  # Compiles for this shape.
                    record["torch_compile_seconds"] = round(time.time() - t, 1)
                    ms, runs = host_median_ms(lambda: torch_run(compiled),
                                              warmup, repeat)
                    record["peers"]["torch_compile"] = ms
                    record["peer_runs"]["torch_compile"] = runs
        except Exception as error:
            log(f"run: {name}: PyTorch peer failed: {error}")
            record["peer_error"] = str(error)
        log(f"run: {name}: xfc {record['xfc']} ms (launched one by one: "
            f"{record['xfc_no_graph']} ms), peers {record['peers']}")
        write_results(False)


# ---------------------------------------------------------------------------
# run
# ---------------------------------------------------------------------------

def summary(records):
    lines = [f"{'record':48} {'unit':>6} {'xfc':>10} peers"]
    for r in records:
        xfc_value = r.get("xfc")
        number = "10.3g" if r["unit"] == "max_abs_error" else "10.3f"
        value = "-" if xfc_value is None else f"{xfc_value:{number}}"
        peers = ", ".join(f"{k} {v:.3f}" for k, v in r.get("peers", {}).items())
        check = r.get("check")
        if "passed" in r:
            check = "ok" if r["passed"] else r.get("xfc_error", "over tolerance")
        note = "" if check in (None, "ok") else f"  [{check[:60]}]"
        lines.append(f"{r['name']:48} {r['unit']:>6} {value:>10} {peers}{note}")
    return "\n".join(lines)


def run(args):
    start = time.time()
    deadline = start + args.budget
    torch = None
    if not args.skip_peers:
        import torch
        if not torch.cuda.is_available():
            sys.exit("run_gpu_bench: torch sees no GPU (--skip-peers runs "
                     "xfc alone)")
    prepared = unpack(os.path.abspath(args.prepared))
    with open(os.path.join(prepared, "prepared.json")) as f:
        info = json.load(f)
    out = os.path.abspath(args.out or os.environ.get("OUT") or
                          os.path.join(ROOT, "build", "gpu-bench-out"))
    os.makedirs(out, exist_ok=True)
    workdir = tempfile.mkdtemp(prefix="xfc-gpu-bench-")
    device, details = None, {}
    if torch is not None:
        # fp32 peers in fp32: no TF32 in matmuls or convolutions.
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
        device = torch.cuda.get_device_name(0)
        props = torch.cuda.get_device_properties(0)
        details = {"multiprocessors": props.multi_processor_count,
                   "memory_bytes": props.total_memory,
                   "compute_capability": f"{props.major}.{props.minor}",
                   "l2_bytes": getattr(props, "L2_cache_size", None)}
        log(f"run: {device}, torch {torch.__version__}, CUDA {torch.version.cuda}")

    try:
        smi = subprocess.run(["nvidia-smi", "--query-gpu=driver_version",
                              "--format=csv,noheader"], capture_output=True,
                             text=True, timeout=20).stdout.strip()
        # The card's state as found (clocks, power, other processes), for
        # the log: a busy or throttled card explains odd numbers.
        log(subprocess.run(["nvidia-smi"], capture_output=True, text=True,
                           timeout=20).stdout)
    except (OSError, subprocess.SubprocessError):
        smi = "unknown"
    records, kernel_cmd = [], None

    def write_results(done):
        """The results so far, written whole (through a temporary file)
        after every step, so a run stopped at its time limit keeps what it
        measured."""
        results = {
            "machine": device,
            "device": device,
            "device_details": details,
            "date": datetime.datetime.now(datetime.timezone.utc).strftime(
                "%Y-%m-%d %H:%M UTC"),
            "command": "bench/gpu/run_gpu_bench.py " + " ".join(sys.argv[1:]),
            "kernel_command": kernel_cmd,
            "versions": {"xfc": info.get("xfc"), "prepared": info.get("date"),
                         "gpu_arch": info.get("gpu_arch"),
                         "pytorch": torch.__version__ if torch else None,
                         "cuda": torch.version.cuda if torch else None,
                         "driver": smi, "python": platform.python_version()},
            "timing": "kernels: median of CUDA-event times around each launch "
                      "after warm-up, input sets rotated when a set fits twice "
                      "in L2 (both sides); TFLOPS = 2MNK (GEMM), 4BHL^2d halved "
                      "when causal (attention). e2e: median host time of whole "
                      "runs, host inputs to host outputs, fp32, TF32 off",
            "complete": done,
            "seconds": round(time.time() - start, 1),
            "records": records,
        }
        text = json.dumps(results, indent=1) + "\n"
        for path in (os.path.join(out, "gpu-results.json"), args.results):
            tmp = path + ".tmp"
            with open(tmp, "w") as f:
                f.write(text)
            os.replace(tmp, path)

    if not args.skip_goldens:
        run_goldens(args, prepared, records, write_results)
        log(f"run: goldens done at {time.time() - start:.0f} s")
    if not args.skip_kernels:
        kernel_records, runner_device, kernel_cmd = run_kernels(
            args, prepared, info, workdir)
        device = device or runner_device
        records += kernel_records
        write_results(False)
        log(f"run: kernels done at {time.time() - start:.0f} s")
        if torch is not None:
            add_kernel_peers(torch, kernel_records, args.quick)
            write_results(False)
            log(f"run: kernel peers done at {time.time() - start:.0f} s")
    if not args.skip_e2e:
        run_e2e(args, prepared, info, deadline, torch, records, write_results)
        log(f"run: end-to-end done at {time.time() - start:.0f} s")
    write_results(True)
    print(summary(records))
    print(f"{device}: {len(records)} records in {time.time() - start:.0f} s; "
          f"written to {args.results} and {out}/gpu-results.json")


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = p.add_subparsers(dest="step", required=True)
    pp = sub.add_parser("prepare")
    pp.add_argument("--build", default=os.path.join(ROOT, "build"))
    pp.add_argument("--out", default=os.path.join(ROOT, "build", "gpu-bench"))
    # H100 and H200 are sm_90 chips, which run sm_90a code: its GEMMs on
    # warpgroup MMA (and each also on mma.sync in the kernel cases).
    pp.add_argument("--gpu-arch", default="sm_90a",
                    choices=["sm_80", "sm_90", "sm_90a"])
    pp.add_argument("--skip-e2e", action="store_true")
    pp.add_argument("--skip-goldens", action="store_true")
    pp.add_argument("--smoke", action="store_true",
                    help="the kernels' --smoke cases and the demo model only")
    pr = sub.add_parser("run")
    pr.add_argument("--prepared", default=os.path.join(ROOT, "build", "gpu-bench"))
    pr.add_argument("--out", default=None,
                    help="logs and a copy of the results (default $OUT, else "
                         "build/gpu-bench-out)")
    pr.add_argument("--results", default=os.path.join(ROOT, "bench", "gpu-results.json"))
    pr.add_argument("--quick", action="store_true",
                    help="fewer shapes and runs: a check of the harness")
    pr.add_argument("--skip-e2e", action="store_true")
    pr.add_argument("--skip-goldens", action="store_true")
    pr.add_argument("--skip-kernels", action="store_true")
    pr.add_argument("--skip-peers", action="store_true",
                    help="xfc alone, without PyTorch (also without a GPU, over "
                         "a stand-in libcuda)")
    pr.add_argument("--kernel-timeout", type=int, default=240)
    pr.add_argument("--e2e-timeout", type=int, default=150)
    pr.add_argument("--budget", type=int, default=420,
                    help="seconds after which torch.compile peers are skipped")
    pe = sub.add_parser("e2e-xfc", help="run's xfc half of the end-to-end "
                                        "models (a process of its own)")
    pe.add_argument("--prepared", default=os.path.join(ROOT, "build", "gpu-bench"))
    pe.add_argument("--quick", action="store_true")
    pg = sub.add_parser("goldens-xfc", help="run's golden cases on the GPU "
                                            "(a process of its own)")
    pg.add_argument("--prepared", default=os.path.join(ROOT, "build", "gpu-bench"))
    args = p.parse_args()
    if args.step == "prepare":
        prepare(args)
    elif args.step == "e2e-xfc":
        e2e_xfc(args)
    elif args.step == "goldens-xfc":
        goldens_xfc(args)
    else:
        run(args)


if __name__ == "__main__":
    main()
