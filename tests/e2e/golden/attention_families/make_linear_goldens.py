#!/usr/bin/env python3
# ===- make_linear_goldens.py - Goldens for linear attention, Performer ---=== #
#
# Part of xfc. An independent oracle for the attention families `linear` and
# `performer` (docs/attention-patterns.md, "Linear attention and
# Performer"): for each case, seeded random q, k, v, the pattern text, and
# the output of the family's formula computed directly in float64 with
# PyTorch (the causal form as an explicit sum over j <= i for each query,
# never in chunks). Performer's random matrix W is drawn by this script's
# own transcription of the documented generator (plain Python floats, so
# the libm calls are the C library's, as in xfc), and written out so xfc's
# generator is checked against it. Writes cases.json and one
# <name>.safetensors per case. See README.md beside this script.
#
# Run with Debian's python3 (torch only):
#   /usr/bin/python3 tests/e2e/golden/attention_families/make_linear_goldens.py
#
# ===----------------------------------------------------------------------=== #

import json
import math
import os
import struct
import sys
import zlib

import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261130
# Absolute tolerance for a float32 implementation against these outputs
# (|output| <= max |v| < 5 here). The float32 form of the same formulas is
# asserted below TOLERANCE / 4 for every case; see README.md.
TOLERANCE = 5e-5
# q, k of the error cases: std 0.5, logits of std 0.25. Positive random
# features have a variance that grows as exp(|q|^2 + |k|^2) (of the scaled
# inputs), so at std 1 and D = 16 one fixed draw of W hardly improves over
# m = 16..1024; at std 0.5 the error falls roughly as 1/sqrt(m) (measured
# 0.052, 0.021, 0.015, 0.008 for m = 16, 64, 256, 1024).
QK_ERR = 0.5
ALIGN = 64
U64 = (1 << 64) - 1


# --------------------------------------------------------------------------- #
# Performer's random features (docs/attention-patterns.md)
# --------------------------------------------------------------------------- #

class Draws:
    """SplitMix64, uniforms in (0, 1], Box-Muller normals (cosine only)."""

    def __init__(self, seed):
        self.state = seed & U64

    def next(self):
        self.state = (self.state + 0x9E3779B97F4A7C15) & U64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
        return z ^ (z >> 31)

    def uniform(self):
        return float((self.next() >> 11) + 1) * (2.0 ** -53)

    def normal(self):
        u1 = self.uniform()
        u2 = self.uniform()
        radius = math.sqrt(-2.0 * math.log(u1))
        angle = 2.0 * math.pi * u2
        return radius * math.cos(angle)


def performer_w(m, d, seed):
    """W, m x d, as a float32 tensor: blocks of d orthonormal rows (modified
    Gram-Schmidt over a Gaussian d x d block), each row scaled by a chi(d)
    draw. Every operation rounds once, in the document's order."""
    draws = Draws(seed)
    directions = []
    first = 0
    while first < m:
        block = [[draws.normal() for _ in range(d)] for _ in range(d)]
        for i in range(d):
            v = block[i]
            for j in range(i):
                u = block[j]
                dot = 0.0
                for c in range(d):
                    dot = dot + v[c] * u[c]
                for c in range(d):
                    v[c] = v[c] - dot * u[c]
            squares = 0.0
            for c in range(d):
                squares = squares + v[c] * v[c]
            norm = math.sqrt(squares)
            for c in range(d):
                v[c] = v[c] / norm
        directions.extend(block[:min(d, m - first)])
        first += d
    rows = []
    for r in range(m):
        squares = 0.0
        for c in range(d):
            g = draws.normal()
            squares = squares + g * g
        length = math.sqrt(squares)
        rows.append([length * x for x in directions[r]])
    # float64 -> float32 rounds to nearest, as static_cast<float> does.
    return torch.tensor(rows, dtype=torch.float64).to(torch.float32)


# --------------------------------------------------------------------------- #
# The formulas
# --------------------------------------------------------------------------- #

def valid_keys(sk, length):
    return torch.arange(sk) < (sk if length is None else length)


def linear_features(x):
    return torch.nn.functional.elu(x) + 1.0


def performer_query_features(x, w):
    """phi(q) with the row's own maximum exponent as its stabilizer."""
    m = w.shape[0]
    e = x @ w.T - (x * x).sum(-1, keepdim=True) / 2
    return torch.exp(e - e.max(-1, keepdim=True).values) / math.sqrt(m)


def performer_key_features(x, w, valid):
    """phi(k) with one stabilizer: the largest exponent over valid keys."""
    m = w.shape[0]
    e = x @ w.T - (x * x).sum(-1, keepdim=True) / 2
    stab = e[valid].max() if bool(valid.any()) else torch.tensor(0.0, dtype=x.dtype)
    return torch.exp(e - stab) / math.sqrt(m) * valid[:, None].to(x.dtype)


def kernel_attention(pq, pk, v, causal):
    """out_i = sum_j (pq_i . pk_j) v_j / sum_j (pq_i . pk_j), over j <= i
    when causal (each query's own sum, the L x L form); 0 where the
    denominator is 0."""
    weights = pq @ pk.T
    if causal:
        n = weights.shape[0]
        weights = weights * torch.tril(torch.ones(n, n, dtype=weights.dtype))
    num = weights @ v
    den = weights.sum(-1, keepdim=True)
    safe = torch.where(den > 0, den, torch.ones_like(den))
    return torch.where(den > 0, num / safe, torch.zeros_like(num))


def family_output(c, q, k, v, w):
    """The family's output for every (batch item, head), in q's dtype."""
    b, h, d = c["batch"], c["heads"], c["head_dim"]
    out = torch.zeros_like(q)
    scale = 1.0 / math.sqrt(d)
    for bi in range(b):
        length = None if c["key_lengths"] is None else c["key_lengths"][bi]
        valid = valid_keys(c["sk"], length)
        for t in range(h):
            cols = slice(t * d, (t + 1) * d)
            qt, kt, vt = q[bi, :, cols], k[bi, :, cols], v[bi, :, cols]
            if c["family"] == "linear":
                pq = linear_features(qt)
                pk = linear_features(kt) * valid[:, None].to(q.dtype)
            else:
                # Inputs scaled by d^-1/4 = sqrt(1/sqrt(d)).
                root = math.sqrt(scale)
                ww = w.to(q.dtype)
                pq = performer_query_features(qt * root, ww)
                pk = performer_key_features(kt * root, ww, valid)
            out[bi, :, cols] = kernel_attention(pq, pk, vt, c["causal"])
    return out


def softmax_output(c, q, k, v):
    """Exact softmax attention (the function Performer approximates)."""
    b, h, d = c["batch"], c["heads"], c["head_dim"]
    out = torch.zeros_like(q)
    for bi in range(b):
        for t in range(h):
            cols = slice(t * d, (t + 1) * d)
            s = q[bi, :, cols] @ k[bi, :, cols].T / math.sqrt(d)
            if c["causal"]:
                n = s.shape[0]
                s = s.masked_fill(torch.triu(torch.ones(n, n, dtype=torch.bool), 1),
                                  float("-inf"))
            out[bi, :, cols] = torch.softmax(s, -1) @ v[bi, :, cols]
    return out


def recurrent_row(c, q, k, v, w, bi, t, i):
    """One output row by the running-state recurrence S_i = S_(i-1) +
    phi(k_i) v_i^T, z_i = z_(i-1) + phi(k_i) (plain Python floats):
    checks the matrix form above."""
    d = c["head_dim"]
    cols = slice(t * d, (t + 1) * d)
    length = None if c["key_lengths"] is None else c["key_lengths"][bi]
    valid = valid_keys(c["sk"], length)
    if c["family"] == "linear":
        pq = linear_features(q[bi, i, cols]).tolist()
        pk = (linear_features(k[bi, :, cols]) * valid[:, None].double()).tolist()
    else:
        root = math.sqrt(1.0 / math.sqrt(d))
        ww = w.double()
        pq = performer_query_features(q[bi, i:i + 1, cols] * root, ww)[0].tolist()
        pk = performer_key_features(k[bi, :, cols] * root, ww, valid).tolist()
    last = i if c["causal"] else c["sk"] - 1
    f = len(pq)
    state = [[0.0] * d for _ in range(f)]
    z = [0.0] * f
    for j in range(last + 1):
        vj = v[bi, j, cols].tolist()
        for r in range(f):
            z[r] += pk[j][r]
            for e in range(d):
                state[r][e] += pk[j][r] * vj[e]
    den = sum(pq[r] * z[r] for r in range(f))
    if den == 0:
        return [0.0] * d
    return [sum(pq[r] * state[r][e] for r in range(f)) / den for e in range(d)]


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #

def write_safetensors(path, tensors):
    """Ordered (name, tensor) pairs as safetensors (F32, I32), header and
    tensors padded to 64 bytes, as tests/e2e/golden/make_goldens.py."""
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors:
        arr = t.detach().contiguous().numpy()
        if t.dtype == torch.float32:
            dtype, data = "F32", arr.astype("<f4").tobytes()
        elif t.dtype == torch.int32:
            dtype, data = "I32", arr.astype("<i4").tobytes()
        else:
            raise TypeError(f"{name}: {t.dtype}")
        header[name] = {"dtype": dtype, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(data)]}
        pad = (-len(data)) % ALIGN
        blobs.append(data + b"\0" * pad)
        offset += len(data) + pad
    text = json.dumps(header, separators=(",", ":")).encode("utf-8")
    text += b" " * ((-(8 + len(text))) % ALIGN)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #

def case(name, family, batch, heads, head_dim, sq, sk=None, causal=False,
         m=0, seed=0, key_lengths=None, softmax=False, qk_std=1.0):
    return {"name": name, "family": family, "batch": batch, "heads": heads,
            "head_dim": head_dim, "sq": sq, "sk": sq if sk is None else sk,
            "causal": causal, "m": m, "seed": seed,
            "key_lengths": key_lengths, "softmax": softmax, "qk_std": qk_std}


def pattern_text(c):
    if c["family"] == "linear":
        return "linear(causal)" if c["causal"] else "linear"
    return (f"performer(m = {c['m']}, seed = {c['seed']}"
            + (", causal)" if c["causal"] else ")"))


CASES = [
    # Linear attention: lengths 1, 7, 77 and 130 (not multiples of the
    # 64-position chunk), head dims 64 and 80, causal and not.
    case("linear_s1", "linear", 2, 2, 64, 1),
    case("linear_s7", "linear", 2, 3, 64, 7),
    case("linear_s77_d80", "linear", 2, 2, 80, 77),
    case("linear_s130", "linear", 2, 2, 64, 130),
    case("linear_causal_s1", "linear", 2, 2, 64, 1, causal=True),
    case("linear_causal_s7", "linear", 2, 3, 64, 7, causal=True),
    case("linear_causal_s77_d80", "linear", 2, 2, 80, 77, causal=True),
    case("linear_causal_s130", "linear", 2, 2, 64, 130, causal=True),
    case("linear_keylen_s130", "linear", 2, 2, 64, 130, key_lengths=[70, 0]),
    case("linear_cross_q7_k130", "linear", 2, 2, 64, 7, sk=130),
    # Performer: m below, equal to and above D, not a multiple of D; m =
    # 512 uses 32-position chunks.
    case("performer_m16_s7", "performer", 2, 2, 64, 7, m=16, seed=1),
    case("performer_m64_s77_d80", "performer", 2, 2, 80, 77, m=64, seed=2),
    case("performer_m100_s130", "performer", 2, 2, 64, 130, m=100, seed=3),
    case("performer_causal_m64_s1", "performer", 2, 2, 64, 1, causal=True,
         m=64),
    case("performer_causal_m100_s7", "performer", 2, 3, 64, 7, causal=True,
         m=100, seed=4),
    case("performer_causal_m64_s77_d80", "performer", 2, 2, 80, 77,
         causal=True, m=64, seed=5),
    case("performer_causal_m256_s130", "performer", 2, 2, 64, 130,
         causal=True, m=256),
    case("performer_causal_m512_s130", "performer", 1, 2, 64, 130,
         causal=True, m=512, seed=6),
    case("performer_keylen_m64_s130", "performer", 2, 2, 64, 130, m=64,
         seed=7, key_lengths=[100, 0]),
    # The error against softmax attention falls as m grows (fixed seed).
    case("performer_error_m16", "performer", 2, 2, 16, 130, m=16, qk_std=QK_ERR, seed=11,
         softmax=True),
    case("performer_error_m64", "performer", 2, 2, 16, 130, m=64, qk_std=QK_ERR, seed=11,
         softmax=True),
    case("performer_error_m256", "performer", 2, 2, 16, 130, m=256, qk_std=QK_ERR,
         seed=11, softmax=True),
    case("performer_error_m1024", "performer", 2, 2, 16, 130, m=1024, qk_std=QK_ERR,
         seed=11, softmax=True),
]

# Performer matrices checked against xfc's generator, bit for bit.
W_CASES = [(70, 16, 3), (256, 64, 0)]


def rms(x):
    return math.sqrt((x * x).mean().item())


def make_case(c):
    name = c["name"]
    gen = torch.Generator().manual_seed(SEED + zlib.crc32(name.encode()))
    b, h, d, sq, sk = c["batch"], c["heads"], c["head_dim"], c["sq"], c["sk"]
    q = torch.randn(b, sq, h * d, generator=gen) * c["qk_std"]
    k = torch.randn(b, sk, h * d, generator=gen) * c["qk_std"]
    v = torch.randn(b, sk, h * d, generator=gen)
    w = performer_w(c["m"], d, c["seed"]) if c["family"] == "performer" else None
    q64, k64, v64 = q.double(), k.double(), v.double()
    out = family_output(c, q64, k64, v64, w)
    assert torch.isfinite(out).all(), f"{name}: non-finite output"

    # The recurrence gives the same rows (the first, the last, one inside).
    for bi in range(b):
        for t in range(h):
            for i in sorted({0, sq // 2, sq - 1}):
                row = recurrent_row(c, q64, k64, v64, w, bi, t, i)
                got = out[bi, i, t * d:(t + 1) * d].tolist()
                err = max(abs(x - y) for x, y in zip(row, got))
                assert err < 1e-10, f"{name}: recurrence differs by {err}"
    # An item without keys: exactly 0.
    empty_rows = 0
    for bi, length in enumerate(c["key_lengths"] or []):
        if length == 0:
            assert (out[bi] == 0).all(), f"{name}: empty item is not 0"
            empty_rows += sq * h

    f32 = (family_output(c, q, k, v, w).double() - out).abs().max().item()
    assert f32 < TOLERANCE / 4, f"{name}: float32 error {f32} near tolerance"
    # Causality matters (and the key length, and the features).
    if sq == sk and sq > 1:
        other = dict(c, causal=not c["causal"])
        diff = (family_output(other, q64, k64, v64, w) - out).abs().max().item()
        assert diff > 100 * TOLERANCE, f"{name}: causal flip changes {diff}"

    tensors = [("query", q), ("key", k), ("value", v)]
    if c["key_lengths"] is not None:
        tensors.append(("key_lengths",
                        torch.tensor(c["key_lengths"], dtype=torch.int32)))
    tensors.append(("output", out.to(torch.float32)))
    entry = {"name": name, "pattern": pattern_text(c), "batch": b, "heads": h,
             "head_dim": d, "sq": sq, "sk": sk,
             "key_lengths": c["key_lengths"], "file": name + ".safetensors",
             "tolerance": TOLERANCE, "empty_rows": empty_rows}
    note = ""
    if c["softmax"]:
        exact = softmax_output(c, q64, k64, v64)
        tensors.append(("softmax", exact.to(torch.float32)))
        entry["softmax_rms_error"] = rms(out - exact)
        note = f" softmax_rms_err={entry['softmax_rms_error']:.4f}"
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, tensors)
    print(f"  {name}: {pattern_text(c)}  B={b} H={h} D={d} Sq={sq} Sk={sk} "
          f"kl={c['key_lengths']} f32_err={f32:.1e}{note} "
          f"size={os.path.getsize(path)}")
    return entry


def main():
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    for f in os.listdir(HERE):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(HERE, f))
    entries = [make_case(dict(c)) for c in CASES]
    # The bound the C++ test asserts on the compiled outputs: the error at
    # m = 1024 is below half the error at m = 64.
    err = {e["name"]: e["softmax_rms_error"] for e in entries
           if "softmax_rms_error" in e}
    assert err["performer_error_m1024"] < 0.5 * err["performer_error_m64"], err
    assert err["performer_error_m1024"] < err["performer_error_m256"] < \
        err["performer_error_m64"] < err["performer_error_m16"], err
    ws = []
    for m, d, seed in W_CASES:
        name = f"performer_w_m{m}_d{d}_seed{seed}"
        write_safetensors(os.path.join(HERE, name + ".safetensors"),
                          [("w", performer_w(m, d, seed))])
        ws.append({"name": name, "m": m, "head_dim": d, "seed": seed,
                   "file": name + ".safetensors"})
        print(f"  {name}")
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump({"cases": entries, "feature_matrices": ws}, f, indent=2)
        f.write("\n")
    print(f"{len(entries)} cases, {len(ws)} feature matrices")
    return 0


if __name__ == "__main__":
    sys.exit(main())
