#!/usr/bin/env python3
# ===- make_pattern_goldens.py - Goldens for sparse attention patterns ----=== #
#
# Part of xfc. An independent oracle for the mask patterns of xf.attention
# (docs/attention-patterns.md): for each case, seeded random q, k, v, the
# pattern in xfc's text syntax, and PyTorch's attention output computed in
# float64 with the mask built element by element from the definitions (never
# from block maps). Writes cases.json and one <name>.safetensors per case.
# See README.md beside this script.
#
# Run with Debian's python3 (torch only):
#   /usr/bin/python3 tests/e2e/golden/attention_patterns/make_pattern_goldens.py
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
SEED = 20241130
# Absolute tolerance for a float32 implementation against these outputs.
# Outputs are convex combinations of unit-variance values (|out| < ~4); a
# float32 implementation is measured below at a few 1e-6, while any mask
# error moves outputs by O(0.1..1). See README.md.
TOLERANCE = 2e-5
# q and k have std 2, so logits q.k/sqrt(D) have std about 4: softmax is far
# from uniform and a key wrongly allowed or forbidden changes the output.
QK_STD = 2.0
V_STD = 1.0
MIN_LOGIT_STD = 3.0
# As tests/e2e/golden/make_goldens.py: data area and tensors start on this
# boundary.
ALIGN = 64
U64 = (1 << 64) - 1


# --------------------------------------------------------------------------- #
# Pattern parameters and their text
# --------------------------------------------------------------------------- #

def part(kind, **params):
    """One pattern part: its kind and its parameters, in text order."""
    return {"kind": kind, **params}


def format_value(v):
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(format_value(x) for x in v) + "]"
    return str(v)


def part_text(p):
    """xfc's text for one part, e.g. 'sliding_window(w = 8, causal)'."""
    args = []
    for key, value in p.items():
        if key == "kind":
            continue
        if key == "causal":
            if value:
                args.append("causal")
            continue
        args.append(f"{key} = {format_value(value)}")
    return p["kind"] + (f"({', '.join(args)})" if args else "")


def pattern_text(groups):
    """groups: a list of head groups, each a list of parts (their union)."""
    return " | ".join(" + ".join(part_text(p) for p in g) for g in groups)


def ceil_div(a, b):
    return (a + b - 1) // b


# --------------------------------------------------------------------------- #
# BigBird's random blocks (docs/attention-patterns.md, "BigBird's random
# blocks")
# --------------------------------------------------------------------------- #

def splitmix64(state):
    """The standard SplitMix64 step: returns (new state, output)."""
    state = (state + 0x9E3779B97F4A7C15) & U64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & U64
    return state, z ^ (z >> 31)


def bigbird_random_blocks(p, sq, sk):
    """For each query block I, the list of its random key blocks."""
    b, half, glob = p["b"], p["window"] // 2, p["global"]
    num_q, num_k = ceil_div(sq, b), ceil_div(sk, b)
    out = []
    for qb in range(num_q):
        if qb in glob:
            candidates = []
        else:
            candidates = [kb for kb in range(num_k)
                          if abs(qb - kb) > half and kb not in glob]
        state = (p["seed"] ^ ((0xD1B54A32D192ED03 * (qb + 1)) & U64)) & U64
        take = min(p["random"], len(candidates))
        for t in range(take):
            state, r = splitmix64(state)
            pick = t + r % (len(candidates) - t)
            candidates[t], candidates[pick] = candidates[pick], candidates[t]
        out.append(candidates[:take])
    return out


# --------------------------------------------------------------------------- #
# Masks, vectorized: every element from its (i, j)
# --------------------------------------------------------------------------- #

def in_list(x, values):
    """Elementwise: x is one of `values` (x an int64 tensor)."""
    hit = torch.zeros_like(x, dtype=torch.bool)
    for v in values:
        hit |= x == v
    return hit


def part_mask(p, sq, sk):
    """[Sq, Sk] bool: the pairs (i, j) part p allows."""
    i = torch.arange(sq, dtype=torch.int64)[:, None].expand(sq, sk)
    j = torch.arange(sk, dtype=torch.int64)[None, :].expand(sq, sk)
    diff = i - j
    kind = p["kind"]
    if kind == "dense":
        return torch.ones(sq, sk, dtype=torch.bool)
    if kind == "causal":
        return j <= i
    if kind == "sliding_window":
        w = p["w"]
        if p.get("causal"):
            return (diff >= 0) & (diff <= w)
        return diff.abs() <= w // 2
    if kind == "dilated_sliding_window":
        w, d = p["w"], p["d"]
        return (diff.abs() <= (w // 2) * d) & (torch.remainder(diff, d) == 0)
    if kind == "global":
        return in_list(i, p["positions"]) | in_list(j, p["positions"])
    if kind == "bigbird":
        b = p["b"]
        qb, kb = i // b, j // b
        allowed = (qb - kb).abs() <= p["window"] // 2
        allowed |= in_list(qb, p["global"]) | in_list(kb, p["global"])
        for q_block, blocks in enumerate(bigbird_random_blocks(p, sq, sk)):
            allowed |= (qb == q_block) & in_list(kb, blocks)
        return allowed
    if kind == "strided_local":
        return (diff >= 0) & (diff <= p["l"])
    if kind == "strided_summary":
        return (diff >= 0) & (torch.remainder(diff, p["l"]) == 0)
    if kind == "fixed_local":
        l = p["l"]
        return (j <= i) & (j // l == i // l)
    if kind == "fixed_summary":
        l, c = p["l"], p["c"]
        return (j <= i) & (torch.remainder(j, l) >= l - c)
    if kind == "block_sparse":
        b = p["b"]
        layout = torch.tensor(p["layout"], dtype=torch.bool)
        assert tuple(layout.shape) == (ceil_div(sq, b), ceil_div(sk, b)), \
            f"layout {tuple(layout.shape)} for Sq={sq}, Sk={sk}, b={b}"
        return layout[i // b, j // b]
    raise ValueError(f"unknown part {kind}")


def group_mask(parts, sq, sk):
    allowed = torch.zeros(sq, sk, dtype=torch.bool)
    for p in parts:
        allowed |= part_mask(p, sq, sk)
    return allowed


def full_mask(case):
    """[B, H, Sq, Sk] bool: pattern per head group, then key lengths."""
    b, h, sq, sk = case["batch"], case["heads"], case["sq"], case["sk"]
    groups = case["groups"]
    assert h % len(groups) == 0, f"{case['name']}: {h} heads, {len(groups)} groups"
    per_group = h // len(groups)
    heads = [group_mask(groups[t // per_group], sq, sk) for t in range(h)]
    mask = torch.stack(heads)[None].expand(b, h, sq, sk).clone()
    if case["key_lengths"] is not None:
        lengths = torch.tensor(case["key_lengths"], dtype=torch.int64)
        keep = torch.arange(sk)[None, :] < lengths[:, None]  # [B, Sk]
        mask &= keep[:, None, None, :]
    return mask


# --------------------------------------------------------------------------- #
# The same definitions, one scalar at a time (the self-check)
# --------------------------------------------------------------------------- #

def allows_scalar(p, i, j, random_blocks):
    """Does part p allow (i, j)? Plain Python, written from the table in
    docs/attention-patterns.md independently of part_mask."""
    kind = p["kind"]
    if kind == "dense":
        return True
    if kind == "causal":
        return j <= i
    if kind == "sliding_window":
        if p.get("causal"):
            return 0 <= i - j <= p["w"]
        return abs(i - j) <= p["w"] // 2
    if kind == "dilated_sliding_window":
        return abs(i - j) <= (p["w"] // 2) * p["d"] and (i - j) % p["d"] == 0
    if kind == "global":
        return i in p["positions"] or j in p["positions"]
    if kind == "bigbird":
        qb, kb = i // p["b"], j // p["b"]
        return (abs(qb - kb) <= p["window"] // 2 or qb in p["global"]
                or kb in p["global"] or kb in random_blocks[qb])
    if kind == "strided_local":
        return i - p["l"] <= j <= i
    if kind == "strided_summary":
        return j <= i and (i - j) % p["l"] == 0
    if kind == "fixed_local":
        return j <= i and j // p["l"] == i // p["l"]
    if kind == "fixed_summary":
        return j <= i and j % p["l"] >= p["l"] - p["c"]
    if kind == "block_sparse":
        return p["layout"][i // p["b"]][j // p["b"]] == 1
    raise ValueError(kind)


def scalar_row_mask(case, b, h, i, randoms):
    groups = case["groups"]
    group = groups[h // (case["heads"] // len(groups))]
    row = []
    for j in range(case["sk"]):
        ok = any(allows_scalar(p, i, j, randoms[id(p)]) for p in group)
        if case["key_lengths"] is not None and j >= case["key_lengths"][b]:
            ok = False
        row.append(ok)
    return row


def scalar_row_output(case, q, k, v, allowed, b, h, i):
    """out[b, i, h*D:(h+1)*D] with plain Python floats (no torch math)."""
    d = case["head_dim"]
    cols = range(h * d, (h + 1) * d)
    qi = [float(q[b, i, c]) for c in cols]
    scores = []
    for j in range(case["sk"]):
        if allowed[j]:
            kj = [float(k[b, j, c]) for c in cols]
            scores.append((j, sum(x * y for x, y in zip(qi, kj)) / math.sqrt(d)))
    if not scores:
        return [0.0] * d
    m = max(s for _, s in scores)
    weights = [(j, math.exp(s - m)) for j, s in scores]
    total = sum(w for _, w in weights)
    out = [0.0] * d
    for j, w in weights:
        for t, c in enumerate(cols):
            out[t] += w / total * float(v[b, j, c])
    return out


def self_check(case, q, k, v, mask, out):
    """Guards the vectorized code with the scalar definitions: the whole
    mask and the empty-row count from the scalar predicate, and a few rows'
    outputs recomputed with plain Python arithmetic."""
    b_n, h_n, sq = case["batch"], case["heads"], case["sq"]
    randoms = {}
    for g in case["groups"]:
        for p in g:
            randoms[id(p)] = (bigbird_random_blocks(p, sq, case["sk"])
                              if p["kind"] == "bigbird" else None)
    empty = 0
    rows = {}
    for b in range(b_n):
        for h in range(h_n):
            for i in range(sq):
                row = scalar_row_mask(case, b, h, i, randoms)
                assert row == mask[b, h, i].tolist(), \
                    f"{case['name']}: mask row (b={b}, h={h}, i={i}) differs"
                empty += not any(row)
                rows[(b, h, i)] = row
    assert empty == case["empty_rows"], \
        f"{case['name']}: {empty} empty rows, vectorized count {case['empty_rows']}"
    # The last row of the first head, a middle row of the last head, and one
    # empty row if there is one.
    picks = [(0, 0, sq - 1), (b_n - 1, h_n - 1, (2 * sq) // 3)]
    picks += [key for key, row in rows.items() if not any(row)][:1]
    for b, h, i in picks:
        ref = scalar_row_output(case, q, k, v, rows[(b, h, i)], b, h, i)
        d = case["head_dim"]
        got = out[b, i, h * d:(h + 1) * d].tolist()
        worst = max(abs(x - y) for x, y in zip(ref, got))
        assert worst < 1e-12, \
            f"{case['name']}: row (b={b}, h={h}, i={i}) differs by {worst}"


# --------------------------------------------------------------------------- #
# Attention
# --------------------------------------------------------------------------- #

def attention(q, k, v, mask, heads):
    """float64 masked attention. q [B, Sq, H*D], k and v [B, Sk, H*D], mask
    [B, H, Sq, Sk] bool. Rows with no allowed key output exactly 0.
    Returns the output [B, Sq, H*D] and which rows [B, H, Sq, 1] have a
    key."""
    bsz, sq, hd = q.shape
    sk = k.shape[1]
    d = hd // heads
    qh = q.view(bsz, sq, heads, d).transpose(1, 2)
    kh = k.view(bsz, sk, heads, d).transpose(1, 2)
    vh = v.view(bsz, sk, heads, d).transpose(1, 2)
    scores = qh @ kh.transpose(-1, -2) * (1.0 / math.sqrt(d))
    scores = scores.masked_fill(~mask, float("-inf"))
    nonempty = mask.any(-1, keepdim=True)
    # An all -inf row would give NaN; give it finite scores, then zero it.
    scores = torch.where(nonempty, scores, torch.zeros_like(scores))
    probs = torch.softmax(scores, dim=-1) * nonempty
    out = probs @ vh
    return out.transpose(1, 2).reshape(bsz, sq, hd), nonempty


def logit_std(q, k, mask, heads):
    bsz, sq, hd = q.shape
    d = hd // heads
    qh = q.view(bsz, sq, heads, d).transpose(1, 2)
    kh = k.view(bsz, k.shape[1], heads, d).transpose(1, 2)
    s = qh @ kh.transpose(-1, -2) / math.sqrt(d)
    return s[mask].std(unbiased=False).item() if mask.any() else 0.0


def float32_error(q, k, v, mask, heads, expected):
    """max |float32 attention - expected|: what a plain float32
    implementation loses, to size TOLERANCE."""
    out, _ = attention(q.float(), k.float(), v.float(), mask, heads)
    return (out.double() - expected).abs().max().item()


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #

def write_safetensors(path, tensors):
    """Writes an ordered list of (name, tensor) as safetensors: float32 as
    F32, int32 as I32; header padded with spaces and tensors padded with
    zeros to 64 bytes, as tests/e2e/golden/make_goldens.py does."""
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

def sw(w, causal=False):
    """sliding_window; the causal flag only appears in the causal form."""
    return part("sliding_window", w=w, **({"causal": True} if causal else {}))


SL8 = part("strided_local", l=8)
SS8 = part("strided_summary", l=8)
FL16 = part("fixed_local", l=16)
FS16 = part("fixed_summary", l=16, c=2)
BIGBIRD_16 = part("bigbird", b=16, window=3, **{"global": [0]}, random=2,
                  seed=7)

# 5 x 5 blocks of 16 at S = 77; block row 2 (queries 32..47) is all zero, so
# those rows have no allowed key and output 0.
LAYOUT_5X5 = [[1, 0, 0, 0, 0],
              [1, 1, 0, 0, 0],
              [0, 0, 0, 0, 0],
              [1, 0, 1, 1, 0],
              [0, 1, 0, 1, 1]]
# Sq = 33 (3 block rows) by Sk = 77 (5 block columns).
LAYOUT_3X5 = [[1, 0, 0, 1, 0],
              [0, 1, 1, 0, 0],
              [1, 0, 0, 0, 1]]


def case(name, groups, batch, heads, head_dim, sq, sk=None, key_lengths=None,
         allows_all=False):
    """groups: a part, a list of parts (one group), or a list of lists.
    allows_all: the pattern is known to allow every pair at this size (the
    script checks it), so it is not required to differ from dense."""
    if isinstance(groups, dict):
        groups = [[groups]]
    elif isinstance(groups[0], dict):
        groups = [groups]
    return {"name": name, "groups": groups, "batch": batch, "heads": heads,
            "head_dim": head_dim, "sq": sq, "sk": sq if sk is None else sk,
            "key_lengths": key_lengths, "allows_all": allows_all}


CASES = [
    # Sanity: the closed forms.
    case("dense_s77", part("dense"), 2, 2, 16, 77),
    case("causal_s77", part("causal"), 1, 2, 80, 77),
    # Longformer.
    case("sliding_window_w8_s77", sw(8), 1, 2, 16, 77),
    case("sliding_window_w16_s77", sw(16), 1, 4, 16, 77),
    case("sliding_window_causal_w8_s77", sw(8, causal=True), 1, 2, 48, 77),
    case("dilated_w8_d2_s77", part("dilated_sliding_window", w=8, d=2),
         1, 2, 16, 77),
    case("dilated_w4_d3_s77", part("dilated_sliding_window", w=4, d=3),
         1, 3, 16, 77),
    case("global_0_76_s77", part("global", positions=[0, 76]), 1, 2, 16, 77),
    case("longformer_s77", [sw(8), part("global", positions=[0, 40])],
         2, 2, 16, 77),
    # BigBird.
    # With 5 blocks of 16, window 3 and global block 0, every block row has
    # at most 2 candidates, so random = 2 takes them all and the pattern
    # allows every pair: this checks the "fewer candidates than random"
    # rule and that no block is dropped. The r = 1 case makes the draw
    # matter (block rows 1 and 4 each choose one of two blocks).
    case("bigbird_b16_s77", BIGBIRD_16, 1, 2, 16, 77, allows_all=True),
    case("bigbird_b16_r1_s77",
         part("bigbird", b=16, window=3, **{"global": [0]}, random=1, seed=7),
         1, 2, 32, 77),
    case("bigbird_b8_s77",
         part("bigbird", b=8, window=3, **{"global": [0, 9]}, random=3,
              seed=1), 1, 2, 80, 77),
    # Sparse Transformer, strided: A1, A2, their union, one per head group.
    case("strided_local_l8_s77", SL8, 1, 2, 16, 77),
    case("strided_summary_l8_s77", SS8, 1, 2, 16, 77),
    case("strided_union_l8_s77", [SL8, SS8], 1, 2, 16, 77),
    case("strided_heads_h2_s77", [[SL8], [SS8]], 1, 2, 16, 77),
    case("strided_heads_h4_s77", [[SL8], [SS8]], 1, 4, 16, 77),
    # Sparse Transformer, fixed.
    case("fixed_local_l16_s77", FL16, 1, 2, 16, 77),
    case("fixed_summary_l16_c2_s77", FS16, 1, 2, 16, 77),
    case("fixed_union_l16_s77", [FL16, FS16], 1, 2, 16, 77),
    case("fixed_heads_h4_s77", [[FL16], [FS16]], 1, 4, 16, 77),
    case("fixed_summary_l4_c1_s7", part("fixed_summary", l=4, c=1),
         1, 2, 16, 7),
    case("fixed_summary_l16_c2_s1", FS16, 1, 2, 16, 1),
    # Block-sparse.
    case("block_sparse_b16_s77", part("block_sparse", b=16, layout=LAYOUT_5X5),
         1, 2, 32, 77),
    # One partial block: [[1]] allows every pair, [[0]] none (every row 0).
    case("block_sparse_b16_s7", part("block_sparse", b=16, layout=[[1]]),
         2, 2, 16, 7, allows_all=True),
    case("block_sparse_b16_none_s7", part("block_sparse", b=16, layout=[[0]]),
         1, 2, 16, 7),
    # Key lengths on top of a pattern.
    case("sliding_window_w8_keylen_s77", sw(8), 2, 2, 16, 77,
         key_lengths=[77, 30]),
    case("global_keylen_s77", part("global", positions=[0, 76]), 2, 2, 16, 77,
         key_lengths=[50, 0]),
    # Causal with another part.
    case("causal_global_s77", [part("causal"), part("global", positions=[3])],
         1, 2, 16, 77),
    # Parts the fused kernel gathers per residue class (docs/
    # attention-patterns.md, "Gathered parts"): lengths that are not a
    # multiple of the class count, strides below and above the tile size
    # and the sequence, unions whose parts overlap, key padding, a head
    # group gathered beside one that is not.
    case("dilated_w6_d5_s77", part("dilated_sliding_window", w=6, d=5),
         1, 2, 16, 77),
    case("dilated_global_s77", [part("dilated_sliding_window", w=8, d=3),
                                part("global", positions=[0, 40])],
         1, 2, 16, 77),
    case("dilated_keylen_s77", part("dilated_sliding_window", w=8, d=2),
         2, 2, 16, 77, key_lengths=[77, 30]),
    case("dilated_heads_h4_s77",
         [[part("dilated_sliding_window", w=4, d=2)], [sw(8)]], 1, 4, 16, 77),
    case("dilated_w4_d3_s1", part("dilated_sliding_window", w=4, d=3),
         1, 2, 16, 1, allows_all=True),
    case("strided_union_l3_s77", [part("strided_local", l=3),
                                  part("strided_summary", l=3)],
         1, 2, 16, 77),
    case("strided_summary_l5_keylen_s77", part("strided_summary", l=5),
         2, 2, 16, 77, key_lengths=[77, 41]),
    case("strided_summary_l4_s7", part("strided_summary", l=4), 1, 2, 16, 7),
    case("strided_global_l4_s77", [part("strided_summary", l=4),
                                   part("causal"),
                                   part("global", positions=[5])],
         1, 2, 16, 77),
    # The fixed A2, gathered by key (its summary keys compacted): l below
    # and above the tiles, lengths not a multiple of l, c keys of l in the
    # union with A1 (which overlaps A2 inside a block), A2 alone with key
    # padding, and head_dim 80.
    case("fixed_union_l8_c2_s77", [part("fixed_local", l=8),
                                   part("fixed_summary", l=8, c=2)],
         1, 2, 16, 77),
    case("fixed_union_l16_c3_s130", [part("fixed_local", l=16),
                                     part("fixed_summary", l=16, c=3)],
         1, 2, 80, 130),
    case("fixed_union_l128_c16_s200", [part("fixed_local", l=128),
                                       part("fixed_summary", l=128, c=16)],
         1, 2, 16, 200),
    case("fixed_summary_l8_c3_keylen_s77", part("fixed_summary", l=8, c=3),
         2, 2, 16, 77, key_lengths=[77, 41]),
    # Cross attention (Sq != Sk), non-causal parts.
    case("cross_sliding_window_q77_k33", sw(16), 1, 2, 16, 77, 33),
    case("cross_global_q7_k77", [sw(4), part("global", positions=[3, 60])],
         1, 2, 64, 7, 77),
    case("cross_block_sparse_q33_k77",
         part("block_sparse", b=16, layout=LAYOUT_3X5), 1, 2, 32, 33, 77),
    case("cross_bigbird_q33_k77",
         part("bigbird", b=16, window=3, **{"global": [0]}, random=1, seed=3),
         1, 2, 16, 33, 77),
    # One query (decode-like) over 77 keys, with key lengths.
    case("cross_longformer_q1_k77", [sw(8), part("global", positions=[30, 60])],
         2, 2, 16, 1, 77, key_lengths=[77, 3]),
]


def with_groups(c, groups):
    d = dict(c)
    d["groups"] = groups
    return d


def must_differ(c, q, k, v, out, other_groups, what):
    """The golden must fail an implementation that gets `what` wrong: the
    output with other_groups instead differs by over 100 x TOLERANCE (the
    margin the other golden tests ask of a deliberately wrong model)."""
    other = full_mask(with_groups(c, other_groups))
    alt, _ = attention(q, k, v, other, c["heads"])
    diff = (alt - out).abs().max().item()
    assert diff > 100 * TOLERANCE, \
        f"{c['name']}: output with {what} differs only by {diff}"
    return diff


def make_case(c):
    name = c["name"]
    gen = torch.Generator().manual_seed(SEED + zlib.crc32(name.encode()))
    b, h, d, sq, sk = c["batch"], c["heads"], c["head_dim"], c["sq"], c["sk"]
    q = torch.randn(b, sq, h * d, generator=gen) * QK_STD
    k = torch.randn(b, sk, h * d, generator=gen) * QK_STD
    v = torch.randn(b, sk, h * d, generator=gen) * V_STD
    q64, k64, v64 = q.double(), k.double(), v.double()

    mask = full_mask(c)
    out, nonempty = attention(q64, k64, v64, mask, h)
    c["empty_rows"] = int((~nonempty).sum())
    assert torch.isfinite(out).all(), f"{name}: non-finite output"
    empty_out = out.view(b, sq, h, d).transpose(1, 2)[~nonempty[..., 0]]
    assert (empty_out == 0).all(), f"{name}: an empty row is not 0"
    self_check(c, q64, k64, v64, mask, out)

    # The pattern matters: dense attention (same key lengths) differs, and
    # so does every part alone and, with head groups, the union everywhere.
    groups = c["groups"]
    parts = [p for g in groups for p in g]
    checks = []
    if c["allows_all"]:
        assert bool(mask.all()), f"{name}: expected to allow every pair"
    elif not (len(parts) == 1 and parts[0]["kind"] == "dense"):
        checks.append(([[part("dense")]], "a dense mask"))
    if len(parts) > 1:
        for p in parts:
            checks.append(([[p]], f"only {part_text(p)}"))
    if len(groups) > 1:
        checks.append(([parts], "the union in every head"))
        checks.append((groups[::-1], "the head groups swapped"))
    margin = min((must_differ(c, q64, k64, v64, out, other, what)
                  for other, what in checks), default=float("nan"))

    std = logit_std(q64, k64, mask, h)
    assert c["empty_rows"] == b * h * sq or std >= MIN_LOGIT_STD, \
        f"{name}: logit std {std:.2f} too small"
    f32 = float32_error(q64, k64, v64, mask, h, out)
    assert f32 < TOLERANCE / 4, f"{name}: float32 error {f32} near tolerance"

    tensors = [("query", q), ("key", k), ("value", v)]
    if c["key_lengths"] is not None:
        tensors.append(("key_lengths",
                        torch.tensor(c["key_lengths"], dtype=torch.int32)))
    tensors.append(("output", out.to(torch.float32)))
    path = os.path.join(HERE, name + ".safetensors")
    write_safetensors(path, tensors)
    density = mask.double().mean().item()
    print(f"  {name}: {pattern_text(groups)}  B={b} H={h} D={d} "
          f"Sq={sq} Sk={sk} kl={c['key_lengths']} density={density:.3f} "
          f"empty_rows={c['empty_rows']} logit_std={std:.2f} "
          f"f32_err={f32:.1e} min_change={margin:.3f} "
          f"size={os.path.getsize(path)}")
    return {"name": name, "pattern": pattern_text(groups), "batch": b,
            "heads": h, "head_dim": d, "sq": sq, "sk": sk,
            "key_lengths": c["key_lengths"], "file": name + ".safetensors",
            "tolerance": TOLERANCE, "empty_rows": c["empty_rows"]}


def main():
    names = [c["name"] for c in CASES]
    assert len(set(names)) == len(names), "duplicate case names"
    # Stale files of removed cases must not linger.
    for f in os.listdir(HERE):
        if f.endswith(".safetensors"):
            os.remove(os.path.join(HERE, f))
    entries = [make_case(dict(c)) for c in CASES]
    with open(os.path.join(HERE, "cases.json"), "w") as f:
        json.dump(entries, f, indent=2)
        f.write("\n")
    total = sum(os.path.getsize(os.path.join(HERE, e["file"]))
                for e in entries)
    print(f"{len(entries)} cases, {total / 1e6:.2f} MB of safetensors")
    return 0


if __name__ == "__main__":
    sys.exit(main())
