#!/usr/bin/env python3
# ===- make_lsh_goldens.py - Goldens for Reformer LSH attention -----------=== #
#
# Part of xfc. An independent oracle for xf.attention with the pattern
# `lsh(...)` (docs/attention-patterns.md, "LSH attention"): for each case,
# seeded random q, k, v and the output of LSH attention computed in float64
# straight from the definition, per (batch, head): the random rotations
# drawn from the seed, the buckets, an explicit stable sort per round
# (torch.sort), chunks looking back one chunk, the sets of keys each query
# sees in each round as L x L matrices, log N_ij, the self-attention rule,
# per-round softmax and the rounds combined by their log-sum-exp. Writes
# lsh_cases.json and one lsh_*.safetensors per case. See README.md.
#
# Run with Debian's python3 (torch only):
#   /usr/bin/python3 tests/e2e/golden/attention_families/make_lsh_goldens.py
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
SEED = 20251130
# Absolute tolerance for a float32 implementation against these outputs
# (the float32 version of the same formula is asserted below a quarter of
# it). A wrong bucket, chunk, self rule or log N moves outputs by far more
# (asserted per case, see must_differ).
TOLERANCE = 2e-5
QK_STD = 3.0
V_STD = 1.0
ALIGN = 64
U64 = (1 << 64) - 1


# --------------------------------------------------------------------------- #
# The definition
# --------------------------------------------------------------------------- #

def splitmix64(state):
    """One SplitMix64 step: (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & U64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return state, z ^ (z >> 31)


def rotations(seed, rounds, buckets, d):
    """R_r (d x buckets/2) for each round, float32: drawn in the order
    r, row e, column m, each a Box-Muller normal from two 53-bit uniforms
    u1 in (0, 1] and u2 in [0, 1) (docs/attention-patterns.md)."""
    half = buckets // 2
    out = torch.zeros(rounds, d, half, dtype=torch.float32)
    state = seed & U64
    for r in range(rounds):
        for e in range(d):
            for m in range(half):
                state, a = splitmix64(state)
                state, b = splitmix64(state)
                u1 = ((a >> 11) + 1) * 2.0 ** -53
                u2 = (b >> 11) * 2.0 ** -53
                z = math.sqrt(-2.0 * math.log(u1)) * math.cos(
                    2.0 * math.pi * u2)
                out[r, e, m] = z
    return out


def buckets_of(x, rot, name):
    """argmax([x R ; -x R]) per round for the rows of x (float32 values,
    computed exactly enough in float64). Asserts that no row is within
    float32 rounding of a tie, so any float32 implementation that sums
    the d products in any order gets the same buckets: the gap between
    the two largest candidates must exceed twice the bound on the error of
    a float32 dot product, 2 (d + 1) 2^-24 sum_e |x_e R_em|."""
    x64, r64 = x.double(), rot.double()
    rounds, d, _ = rot.shape
    result = []
    for r in range(rounds):
        proj = x64 @ r64[r]
        cand = torch.cat([proj, -proj], dim=1)
        bound = (x64.abs() @ r64[r].abs()).repeat(1, 2)
        top2 = torch.topk(cand, 2, dim=1) if cand.shape[1] > 1 else None
        idx = torch.argmax(cand, dim=1)
        if top2 is not None:
            gap = top2.values[:, 0] - top2.values[:, 1]
            err = 2 * (d + 1) * 2.0 ** -24 * bound.gather(
                1, top2.indices).max(dim=1).values
            assert bool((gap > 2 * err).all()), \
                f"{name}: a hash value is within float32 rounding of a tie"
        result.append(idx)
    return torch.stack(result)  # [rounds, L]


def lsh_head(q, v, rot, chunk, causal, length, use_dedup=True,
             keys=None):
    """LSH attention of one (batch item, head), float64: q [L, d] (also the
    keys, normalized), v [L, dv]; `length` valid keys. Returns the output
    and N (the rounds in which each query sees each key). `keys` replaces
    the normalized queries (a must-differ check only)."""
    L = q.shape[0]
    rounds = rot.shape[0]
    bkt = buckets_of(q.float(), rot, "case")
    norms = q.norm(dim=1, keepdim=True)
    k = torch.where(norms > 0, q / norms.clamp_min(1e-300),
                    torch.zeros_like(q)) if keys is None else keys
    logits = (q @ k.T) / math.sqrt(q.shape[1])
    pos = torch.arange(L)
    base = (pos[None, :] != pos[:, None]) & (pos[None, :] < length)
    if causal:
        base &= pos[None, :] <= pos[:, None]
    sees = []
    for r in range(rounds):
        # The stable sort by (bucket, position): torch.sort(stable=True) of
        # the buckets keeps equal buckets in position order.
        _, perm = torch.sort(bkt[r], stable=True)
        slot = torch.empty(L, dtype=torch.long)
        slot[perm] = torch.arange(L)
        ch = slot // chunk
        near = (ch[None, :] == ch[:, None]) | (ch[None, :] == ch[:, None] - 1)
        same = bkt[r][None, :] == bkt[r][:, None]
        sees.append(base & near & same)
    n = torch.stack(sees).sum(dim=0).double()
    out = torch.zeros(L, v.shape[1], dtype=torch.float64)
    for i in range(L):
        lses, outs = [], []
        for r in range(rounds):
            js = sees[r][i].nonzero().flatten()
            if len(js) == 0:
                continue
            s = logits[i, js] - (torch.log(n[i, js]) if use_dedup else 0)
            lse = torch.logsumexp(s, dim=0)
            lses.append(lse)
            outs.append(torch.exp(s - lse) @ v[js])
        if lses:
            total = torch.logsumexp(torch.stack(lses), dim=0)
            for lse, o in zip(lses, outs):
                out[i] += torch.exp(lse - total) * o
        elif i < length:
            out[i] = v[i]  # Nothing else allowed: the query sees itself.
    return out, n, logits


def lsh_attention(c, q, v, rot, **kw):
    """[B, L, H*d] in float64, the largest N, and the number of valid
    rows (i < length) that see no key but themselves."""
    b, h, d, L = c["batch"], c["heads"], c["head_dim"], c["seq"]
    out = torch.zeros(b, L, h * d, dtype=torch.float64)
    max_n = self_rows = 0
    keys_full = kw.pop("keys_full", None)
    for bi in range(b):
        length = L if c["key_lengths"] is None else c["key_lengths"][bi]
        for hi in range(h):
            cols = slice(hi * d, (hi + 1) * d)
            keys = None if keys_full is None else keys_full[bi, :, cols]
            o, n, _ = lsh_head(q[bi, :, cols], v[bi, :, cols], rot,
                               c["chunk"], c["causal"], length, keys=keys,
                               **kw)
            out[bi, :, cols] = o
            max_n = max(max_n, int(n.max()) if n.numel() else 0)
            self_rows += int((n[:length] == 0).all(dim=1).sum())
    return out, max_n, self_rows


def union_check(c, q, v, rot, out):
    """The rounds' log-sum-exp merge with log N is softmax over the union of
    the keys seen in any round: recomputed that way, per row."""
    b, h, d, L = c["batch"], c["heads"], c["head_dim"], c["seq"]
    worst = 0.0
    for bi in range(b):
        length = L if c["key_lengths"] is None else c["key_lengths"][bi]
        for hi in range(h):
            cols = slice(hi * d, (hi + 1) * d)
            _, n, logits = lsh_head(q[bi, :, cols], v[bi, :, cols], rot,
                                    c["chunk"], c["causal"], length)
            for i in range(L):
                js = (n[i] > 0).nonzero().flatten()
                if len(js):
                    ref = torch.softmax(logits[i, js], dim=0) @ \
                        v[bi, js, cols]
                else:
                    ref = v[bi, i, cols] if i < length else \
                        torch.zeros(d, dtype=torch.float64)
                worst = max(worst,
                            (ref - out[bi, i, cols]).abs().max().item())
    assert worst < 1e-12, f"{c['name']}: union check {worst}"


def float32_error(c, q, v, rot, expected):
    """The same formula in float32 (buckets from the same float32 inputs)."""
    b, h, d, L = c["batch"], c["heads"], c["head_dim"], c["seq"]
    worst = 0.0
    for bi in range(b):
        length = L if c["key_lengths"] is None else c["key_lengths"][bi]
        for hi in range(h):
            cols = slice(hi * d, (hi + 1) * d)
            _, n, _ = lsh_head(q[bi, :, cols], v[bi, :, cols], rot,
                               c["chunk"], c["causal"], length)
            q32 = q[bi, :, cols].float()
            v32 = v[bi, :, cols].float()
            k32 = q32 / q32.norm(dim=1, keepdim=True)
            # The union form (see union_check): log N cancels the repeats.
            s = (q32 @ k32.T) * (1.0 / math.sqrt(d))
            s = s.masked_fill(n == 0, float("-inf"))
            for i in range(L):
                if bool((n[i] > 0).any()):
                    o = torch.softmax(s[i], dim=0) @ v32
                    worst = max(worst, (o.double() -
                                        expected[bi, i, cols]).abs()
                                .max().item())
    return worst


def write_safetensors(path, tensors):
    """As attention_patterns/make_pattern_goldens.py: F32 and I32, header
    padded with spaces and tensors with zeros to 64 bytes."""
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
        for blob in blobs:
            f.write(blob)


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #

def case(name, batch, heads, head_dim, seq, buckets, hashes, chunk, seed,
         causal=False, key_lengths=None):
    return {"name": name, "batch": batch, "heads": heads,
            "head_dim": head_dim, "seq": seq, "buckets": buckets,
            "hashes": hashes, "chunk": chunk, "seed": seed, "causal": causal,
            "key_lengths": key_lengths}


CASES = [
    case("lsh_b8_r1_c8_s77", 1, 2, 64, 77, 8, 1, 8, 0),
    case("lsh_b8_r2_c8_s77", 1, 2, 64, 77, 8, 2, 8, 1),
    case("lsh_b8_r2_c8_causal_s77", 1, 2, 80, 77, 8, 2, 8, 2, causal=True),
    case("lsh_b4_r2_c16_s130_batch2", 2, 3, 64, 130, 4, 2, 16, 3),
    case("lsh_b32_r2_c64_s130", 1, 2, 64, 130, 32, 2, 64, 0),
    case("lsh_b16_r4_c32_causal_s130", 1, 4, 80, 130, 16, 4, 32, 5,
         causal=True),
    case("lsh_b8_r2_c8_s7", 1, 2, 80, 7, 8, 2, 8, 0),
    case("lsh_b8_r2_c4_causal_s7", 2, 2, 64, 7, 8, 2, 4, 0, causal=True),
    case("lsh_b8_r2_c8_s1", 1, 2, 64, 1, 8, 2, 8, 0),
    case("lsh_b4_r2_c8_keylen_s77", 2, 2, 64, 77, 4, 2, 8, 7,
         key_lengths=[77, 30]),
    case("lsh_b2_r1_c8_causal_s77", 1, 3, 64, 77, 2, 1, 8, 0, causal=True),
]


def pattern_text(c):
    return (f"lsh(buckets = {c['buckets']}, hashes = {c['hashes']}, "
            f"chunk = {c['chunk']}, seed = {c['seed']}"
            + (", causal)" if c["causal"] else ")"))


def must_differ(c, out, other, what):
    change = (out - other).abs().max().item()
    assert change > 100 * TOLERANCE, \
        f"{c['name']}: the output does not tell {what} apart ({change})"
    return change


def make_case(c):
    name = c["name"]
    gen = torch.Generator().manual_seed(SEED + zlib.crc32(name.encode()))
    b, h, d, L = c["batch"], c["heads"], c["head_dim"], c["seq"]
    q = torch.randn(b, L, h * d, generator=gen) * QK_STD
    k = torch.randn(b, L, h * d, generator=gen) * QK_STD
    v = torch.randn(b, L, h * d, generator=gen) * V_STD
    q64, k64, v64 = q.double(), k.double(), v.double()
    rot = rotations(c["seed"], c["hashes"], c["buckets"], d)

    out, max_n, self_rows = lsh_attention(c, q64, v64, rot)
    assert torch.isfinite(out).all(), f"{name}: non-finite output"
    union_check(c, q64, v64, rot, out)
    f32 = float32_error(c, q64, v64, rot, out)
    assert f32 < TOLERANCE / 4, f"{name}: float32 error {f32}"

    # What the test tells apart: ignoring the pattern (dense softmax over
    # the op's own keys), the op's keys instead of the normalized queries,
    # and for several rounds the log N correction.
    margins = []
    if L > 1:
        scores = torch.einsum("bihd,bjhd->bhij", q64.view(b, L, h, d),
                              k64.view(b, L, h, d)) / math.sqrt(d)
        if c["causal"]:
            scores = scores.masked_fill(
                torch.ones(L, L, dtype=torch.bool).triu(1), float("-inf"))
        dense = torch.einsum("bhij,bjhd->bihd", torch.softmax(scores, -1),
                             v64.view(b, L, h, d)).reshape(b, L, h * d)
        margins.append(must_differ(c, out, dense, "dense attention"))
        other, _, _ = lsh_attention(c, q64, v64, rot, keys_full=k64)
        margins.append(must_differ(c, out, other, "the key operand as keys"))
    # (In the 7-token cases the keys seen twice are a query's only keys,
    # where log N cancels.)
    if max_n > 1 and L >= 77:
        nodedup, _, _ = lsh_attention(c, q64, v64, rot, use_dedup=False)
        margins.append(must_differ(c, out, nodedup, "dropping log N"))

    empty = 0
    for bi in range(b):
        for hi in range(h):
            rows = out[bi, :, hi * d:(hi + 1) * d]
            empty += int((rows == 0).all(dim=1).sum())

    tensors = [("query", q), ("key", k), ("value", v)]
    if c["key_lengths"] is not None:
        tensors.append(("key_lengths",
                        torch.tensor(c["key_lengths"], dtype=torch.int32)))
    tensors.append(("output", out.to(torch.float32)))
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, tensors)
    print(f"  {name}: {pattern_text(c)}  B={b} H={h} D={d} L={L} "
          f"kl={c['key_lengths']} max_N={max_n} self_rows={self_rows} "
          f"empty_rows={empty} "
          f"f32_err={f32:.1e} "
          f"min_change={min(margins) if margins else float('nan'):.3f}")
    return {"name": name, "pattern": pattern_text(c), "batch": b,
            "heads": h, "head_dim": d, "sq": L, "sk": L,
            "key_lengths": c["key_lengths"], "file": name + ".safetensors",
            "tolerance": TOLERANCE, "empty_rows": empty, "max_n": max_n,
            "self_rows": self_rows}


def main():
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    for f in os.listdir(HERE):
        if f.startswith("lsh_") and f.endswith(".safetensors"):
            os.remove(os.path.join(HERE, f))
    entries = [make_case(dict(c)) for c in CASES]
    assert any(e["max_n"] > 1 for e in entries), "no case exercises log N"
    assert any(e["self_rows"] > 0 for e in entries), \
        "no case exercises the self rule"
    with open(os.path.join(HERE, "lsh_cases.json"), "w") as f:
        json.dump(entries, f, indent=2)
        f.write("\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
