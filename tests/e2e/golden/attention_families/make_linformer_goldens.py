#!/usr/bin/env python3
# ===- make_linformer_goldens.py - Goldens for Linformer attention --------=== #
#
# Part of xfc. An oracle for Linformer (arXiv 2006.04768) as xfc defines it
# (docs/attention-patterns.md, "Linformer"; docs/spec.md, "Linformer
# projections"), computed from the formula in float64, independent of xfc:
#
#   K' = E K0, V' = F V0, with K0, V0 the keys and values whose padded rows
#   (j >= key_lengths[b]) are zeroed; out_t = softmax(Q_t K'_t^T / sqrt(D)) V'_t
#
# Two kinds of cases, see README.md beside this script:
#   linformer/cases.json + <case>.safetensors: attention-level cases (q, k, v,
#     E, F, key lengths, output) for xf.linformer_projection + xf.attention;
#   linformer_encoder*/: small encoder specs with their weights (E and F
#     included, or generated from the seed), inputs and the full model's
#     output, computed here by a plain float64 forward pass.
#
# Run with Debian's python3 (torch and numpy only):
#   /usr/bin/python3 tests/e2e/golden/attention_families/make_linformer_goldens.py
#
# ===----------------------------------------------------------------------=== #

import json
import math
import os
import shutil
import struct
import sys

import numpy as np
import torch

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261130
ALIGN = 64
# Absolute tolerance for a float32 implementation (see README.md); the
# script asserts that its own float32 evaluation stays below a quarter.
TOLERANCE = 1e-4
# The whole encoder: three layers of LayerNorm-ed activations of order 3,
# so float32 rounding accumulates further (measured below 4e-5).
ENCODER_TOLERANCE = 2e-4
MASK64 = (1 << 64) - 1


# --------------------------------------------------------------------------- #
# Files (the layout of ../make_goldens.py, with I32 tensors too)
# --------------------------------------------------------------------------- #

def write_safetensors(path, tensors):
    header, blobs, offset = {}, [], 0
    for name, t in tensors:
        if t.dtype in (torch.int32, torch.int64):
            data = t.to(torch.int32).contiguous().numpy().astype('<i4').tobytes()
            dtype = "I32"
        else:
            data = t.to(torch.float32).contiguous().numpy().astype('<f4').tobytes()
            dtype = "F32"
        header[name] = {"dtype": dtype, "shape": list(t.shape),
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


def write_json(path, obj):
    with open(path, "w") as f:
        json.dump(obj, f, indent=2)
        f.write("\n")


# --------------------------------------------------------------------------- #
# The generator of docs/spec.md (SplitMix64 + Box-Muller), and the seeding of
# generated Linformer projections: seed ^ FNV-1a-64(weight name), N(0, 1/k).
# --------------------------------------------------------------------------- #

def splitmix64(state):
    state = (state + 0x9E3779B97F4A7C15) & MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
    return state, z ^ (z >> 31)


def normals(seed, count):
    out, state = [], seed & MASK64
    while len(out) < count:
        state, a = splitmix64(state)
        state, b = splitmix64(state)
        u1 = ((a >> 11) + 1) * (1.0 / 9007199254740992.0)
        u2 = (b >> 11) * (1.0 / 9007199254740992.0)
        r = math.sqrt(-2.0 * math.log(u1))
        theta = 6.283185307179586476925286766559 * u2
        out += [r * math.cos(theta), r * math.sin(theta)]
    return out[:count]


def fnv1a64(text):
    h = 0xCBF29CE484222325
    for c in text.encode("utf-8"):
        h = ((h ^ c) * 0x100000001B3) & MASK64
    return h


def generated_projection(name, shape, seed):
    k = shape[-2]
    count = int(np.prod(shape))
    values = normals(seed ^ fnv1a64(name), count)
    t = torch.tensor(values, dtype=torch.float64) * (1.0 / math.sqrt(k))
    return t.to(torch.float32).reshape(shape)


# --------------------------------------------------------------------------- #
# Linformer attention from the formula
# --------------------------------------------------------------------------- #

def linformer_attention(q, k, v, e, f, heads, lengths):
    """q, k, v [B, n, H*D]; e, f [k, n] or [H, k, n]; lengths [B] or None.
    Any dtype; computes in that dtype."""
    b, n, width = k.shape
    d = width // heads
    if lengths is not None:
        keep = (torch.arange(n)[None, :] < lengths[:, None]).to(k.dtype)
        k = k * keep[:, :, None]
        v = v * keep[:, :, None]
    outs = []
    for t in range(heads):
        cols = slice(t * d, (t + 1) * d)
        et = e[t] if e.dim() == 3 else e
        ft = f[t] if f.dim() == 3 else f
        kp = torch.einsum("rj,bjc->brc", et, k[:, :, cols])
        vp = torch.einsum("rj,bjc->brc", ft, v[:, :, cols])
        logits = torch.einsum("bic,brc->bir", q[:, :, cols], kp) / math.sqrt(d)
        outs.append(torch.softmax(logits, dim=-1) @ vp)
    return torch.cat(outs, dim=-1), logits


def scalar_row(q, k, v, e, f, heads, lengths, bi, i, t):
    """One output row (batch bi, query i, head t) in plain Python floats."""
    n = k.shape[1]
    d = k.shape[2] // heads
    length = n if lengths is None else int(lengths[bi])
    et = e[t] if e.dim() == 3 else e
    ft = f[t] if f.dim() == 3 else f
    rows = et.shape[0]
    kp = [[sum(float(et[r, j]) * float(k[bi, j, t * d + c])
               for j in range(length)) for c in range(d)] for r in range(rows)]
    vp = [[sum(float(ft[r, j]) * float(v[bi, j, t * d + c])
               for j in range(length)) for c in range(d)] for r in range(rows)]
    logits = [sum(float(q[bi, i, t * d + c]) * kp[r][c] for c in range(d))
              / math.sqrt(d) for r in range(rows)]
    m = max(logits)
    w = [math.exp(x - m) for x in logits]
    s = sum(w)
    return [sum(w[r] * vp[r][c] for r in range(rows)) / s for c in range(d)]


# (name, batch, heads, head_dim, n, k, sharing, key lengths)
OP_CASES = [
    ("headwise_n77_k16", 1, 2, 80, 77, 16, "headwise", None),
    ("headwise_n7_k16", 1, 2, 16, 7, 16, "headwise", None),
    ("headwise_n1_k4", 1, 2, 80, 1, 4, "headwise", None),
    ("none_n77_k8", 1, 2, 32, 77, 8, "none", None),
    ("none_n7_k12", 2, 4, 16, 7, 12, "none", None),
    ("key_value_n77_k24", 1, 2, 16, 77, 24, "key_value", None),
    ("key_value_n77_k100", 1, 2, 16, 77, 100, "key_value", None),
    ("headwise_keylen_n77_k16", 2, 2, 80, 77, 16, "headwise", [77, 30]),
    ("none_keylen_n7_k4", 2, 2, 16, 7, 4, "none", [7, 0]),
    # H*D = 96, a multiple of 24: the shared projection packs its input
    # into column panels (LinformerProjection.cpp).
    ("headwise_packed_keylen_n77_k20", 2, 2, 48, 77, 20, "headwise", [77, 41]),
]


def make_op_cases(folder):
    os.makedirs(folder, exist_ok=True)
    cases = []
    for name, b, h, d, n, k, sharing, lengths in OP_CASES:
        gen = torch.Generator().manual_seed(SEED + fnv1a64(name) % 100000)
        width = h * d
        shape = [h, k, n] if sharing == "none" else [k, n]
        e = torch.randn(*shape, generator=gen, dtype=torch.float32) / math.sqrt(k)
        f = e if sharing == "key_value" else (
            torch.randn(*shape, generator=gen, dtype=torch.float32) / math.sqrt(k))
        # (E K) entries have variance n/k; scale q so logits have a std of
        # about 3 whatever n and k.
        q_std = 3.0 * math.sqrt(k / n)
        q = torch.randn(b, n, width, generator=gen, dtype=torch.float32) * q_std
        kk = torch.randn(b, n, width, generator=gen, dtype=torch.float32)
        v = torch.randn(b, n, width, generator=gen, dtype=torch.float32)
        # Padded rows hold large garbage: it must be zeroed, not scaled.
        lens = None
        if lengths is not None:
            lens = torch.tensor(lengths, dtype=torch.int64)
            pad = torch.arange(n)[None, :] >= lens[:, None]
            kk[pad] = 1e4
            v[pad] = -1e4
        out64, logits = linformer_attention(q.double(), kk.double(), v.double(),
                                            e.double(), f.double(), h, lens)
        out32, _ = linformer_attention(q, kk, v, e, f, h, lens)
        err32 = (out32.double() - out64).abs().max().item()
        assert err32 < TOLERANCE / 4, f"{name}: float32 error {err32}"
        assert torch.isfinite(out64).all()
        # Plain-Python check of two rows.
        for bi, i, t in ((b - 1, n - 1, h - 1), (0, (2 * n) // 3, 0)):
            row = scalar_row(q.double(), kk.double(), v.double(), e.double(),
                             f.double(), h, lens, bi, i, t)
            got = out64[bi, i, t * d:(t + 1) * d]
            assert max(abs(a - float(g)) for a, g in zip(row, got)) < 1e-10
        # The case differs from plain attention over the n keys and from the
        # other matrix (E and F swapped), by far more than the tolerance.
        dense = torch.zeros_like(out64)
        for t in range(h):
            cols = slice(t * d, (t + 1) * d)
            lg = q.double()[:, :, cols] @ kk.double()[:, :, cols].transpose(1, 2)
            lg = lg / math.sqrt(d)
            if lens is not None:
                lg = lg.masked_fill(torch.arange(n)[None, None, :] >=
                                    lens[:, None, None], -math.inf)
            p = torch.nan_to_num(torch.softmax(lg, dim=-1))
            dense[:, :, cols] = p @ v.double()[:, :, cols]
        margin = (out64 - dense).abs().max().item()
        assert margin > 100 * TOLERANCE, f"{name}: close to dense ({margin})"
        if sharing != "key_value":
            swapped, _ = linformer_attention(q.double(), kk.double(), v.double(),
                                             f.double(), e.double(), h, lens)
            margin = (out64 - swapped).abs().max().item()
            assert margin > 100 * TOLERANCE, f"{name}: E/F swap ({margin})"
        tensors = [("query", q), ("key", kk), ("value", v), ("e", e)]
        if sharing != "key_value":
            tensors.append(("f", f))
        if lens is not None:
            tensors.append(("key_lengths", lens.to(torch.int32)))
        tensors.append(("output", out64.to(torch.float32)))
        write_safetensors(os.path.join(folder, name + ".safetensors"), tensors)
        cases.append({"name": name, "batch": b, "heads": h, "head_dim": d,
                      "n": n, "k": k, "sharing": sharing,
                      "pattern": f"linformer(k = {k}, sharing = {sharing}, seed = 0)",
                      "key_lengths": lengths, "file": name + ".safetensors",
                      "tolerance": TOLERANCE})
        print(f"  {name}: max |out| {out64.abs().max().item():.3f}, "
              f"float32 error {err32:.2e}, logit std {logits.std().item():.2f}")
    write_json(os.path.join(folder, "cases.json"), cases)


# --------------------------------------------------------------------------- #
# A small encoder with Linformer layers, forward pass in float64
# --------------------------------------------------------------------------- #

def sinusoidal(n, d):
    p = torch.arange(n, dtype=torch.float64)[:, None]
    two_k = torch.arange(0, d, 2, dtype=torch.float64)[None, :]
    angle = p / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_k / d)
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


def layer_norm(x, w, b, eps):
    mean = x.mean(-1, keepdim=True)
    var = ((x - mean) ** 2).mean(-1, keepdim=True)
    return (x - mean) / torch.sqrt(var + eps) * w + b


def encoder_forward(spec, w, ids, lengths, projections):
    """docs/spec.md's post-LN encoder; `projections[i]` = (E, F) of layer i."""
    d, h = spec["d_model"], spec["num_heads"]
    s = ids.shape[1]
    table = w["encoder.embed.tokens"]
    x = table[ids] + sinusoidal(s, d).to(table.dtype)[None]
    for i in range(spec["num_layers"]):
        p = f"encoder.layers.{i}."
        lin = lambda t, n: t @ w[p + n + ".weight"].T + w[p + n + ".bias"]
        q, k, v = (lin(x, "self_attn." + c) for c in "qkv")
        e, f = projections[i]
        att, _ = linformer_attention(q, k, v, e, f, h, lengths)
        x = layer_norm(x + lin(att, "self_attn.out"),
                       w[p + "self_attn_norm.weight"],
                       w[p + "self_attn_norm.bias"], spec["layer_norm_epsilon"])
        hidden = lin(x, "ffn.fc1")
        hidden = 0.5 * hidden * (1.0 + torch.erf(hidden / math.sqrt(2.0)))
        x = layer_norm(x + lin(hidden, "ffn.fc2"), w[p + "ffn_norm.weight"],
                       w[p + "ffn_norm.bias"], spec["layer_norm_epsilon"])
    return x


ENCODER_SPEC = {
    "xfc_spec_version": 1, "kind": "encoder",
    "vocab_size": 50, "d_model": 32, "num_heads": 2, "d_ff": 64,
    "num_layers": 3, "max_seq_len": 128, "norm_placement": "post",
    "layer_norm_epsilon": 1e-5, "activation": "gelu", "bias": True,
    "lm_head": False, "key_padding_mask": True,
    "positional_encoding": "sinusoidal",
}


def encoder_weights(spec, gen):
    d, dff = spec["d_model"], spec["d_ff"]
    w = [("encoder.embed.tokens", torch.randn(spec["vocab_size"], d, generator=gen))]
    for i in range(spec["num_layers"]):
        p = f"encoder.layers.{i}."
        for c in "qkv":
            std = 0.35 if c in "qk" else 0.18
            w += [(p + f"self_attn.{c}.weight", torch.randn(d, d, generator=gen) * std),
                  (p + f"self_attn.{c}.bias", torch.randn(d, generator=gen) * 0.1)]
        w += [(p + "self_attn.out.weight", torch.randn(d, d, generator=gen) * 0.18),
              (p + "self_attn.out.bias", torch.randn(d, generator=gen) * 0.1),
              (p + "self_attn_norm.weight", 1 + 0.1 * torch.randn(d, generator=gen)),
              (p + "self_attn_norm.bias", 0.1 * torch.randn(d, generator=gen)),
              (p + "ffn.fc1.weight", torch.randn(dff, d, generator=gen) * 0.18),
              (p + "ffn.fc1.bias", torch.randn(dff, generator=gen) * 0.1),
              (p + "ffn.fc2.weight", torch.randn(d, dff, generator=gen) * 0.12),
              (p + "ffn.fc2.bias", torch.randn(d, generator=gen) * 0.1),
              (p + "ffn_norm.weight", 1 + 0.1 * torch.randn(d, generator=gen)),
              (p + "ffn_norm.bias", 0.1 * torch.randn(d, generator=gen))]
    return [(n, t.to(torch.float32)) for n, t in w]


def make_encoder_case(name, patterns, seq, with_projections, override, gen):
    """A spec folder: spec.json, weights.safetensors, inputs and expected
    output for --seq-len `seq` (one shape: E and F are for that n).
    `with_projections`: E and F in the weights file (the spec declares
    Linformer); otherwise the spec is dense and the test compiles it with
    --attention=`override`, which generates them from the seed."""
    folder = os.path.join(HERE, name)
    os.makedirs(folder)
    spec = dict(ENCODER_SPEC, name=name)
    if with_projections:
        spec["attention_pattern"] = patterns
    spec["weights"] = {"source": "safetensors", "path": "weights.safetensors"}
    weights = encoder_weights(spec, gen)
    h = spec["num_heads"]
    projections, extra = [], []
    for i, pat in enumerate(patterns):
        k = int(pat.split("k = ")[1].split(",")[0])
        sharing = pat.split("sharing = ")[1].split(",")[0]
        pseed = int(pat.split("seed = ")[1].rstrip(")"))
        shape = [h, k, seq] if sharing == "none" else [k, seq]
        prefix = f"encoder.layers.{i}.self_attn."
        names = {"none": (prefix + "linformer_e", prefix + "linformer_f"),
                 "headwise": (prefix + "linformer_e", prefix + "linformer_f"),
                 "key_value": (prefix + "linformer_e",) * 2,
                 "layerwise": ("encoder.linformer_e",) * 2}[sharing]
        mats = []
        for n in names:
            found = [t for m, t in extra if m == n]
            if found:
                mats.append(found[0])
                continue
            if with_projections:
                t = (torch.randn(*shape, generator=gen) / math.sqrt(k)).float()
            else:
                t = generated_projection(n, shape, pseed)
            extra.append((n, t))
            mats.append(t)
        projections.append((mats[0].double(), mats[1].double()))
    files = weights + (extra if with_projections else [])
    write_safetensors(os.path.join(folder, "weights.safetensors"), files)
    write_json(os.path.join(folder, "spec.json"), spec)
    ids = torch.randint(0, spec["vocab_size"], (2, seq), generator=gen)
    lengths = torch.tensor([seq, max(0, seq - 20)], dtype=torch.int64)
    w = {n: t.double() for n, t in weights}
    out = encoder_forward(spec, w, ids, lengths, projections)
    assert torch.isfinite(out).all()
    # Against the same model without Linformer (dense attention), to show the
    # comparison can tell them apart.
    info = {"seq_len": seq, "override": None if with_projections else override,
            "tolerance": ENCODER_TOLERANCE, "generated": [] if with_projections else
            sorted({n for n, _ in extra})}
    write_json(os.path.join(folder, "case.json"), info)
    np.save(os.path.join(folder, "input_ids.npy"), ids.to(torch.int32).numpy())
    np.save(os.path.join(folder, "lengths.npy"), lengths.to(torch.int32).numpy())
    np.save(os.path.join(folder, "expected.npy"), out.to(torch.float32).numpy())
    # The float32 evaluation of the same forward pass stays well inside the
    # tolerance.
    w32 = {n: t.float() for n, t in weights}
    out32 = encoder_forward(spec, w32, ids, lengths,
                            [(e.float(), f.float()) for e, f in projections])
    err32 = (out32.double() - out).abs().max().item()
    assert err32 < ENCODER_TOLERANCE / 4, f"{name}: float32 error {err32}"
    print(f"  {name}: output {tuple(out.shape)}, max |out| "
          f"{out.abs().max().item():.3f}, float32 error {err32:.2e}")


def main():
    # Everything generated goes (README.md stays), so a removed case leaves
    # nothing behind.
    ops = os.path.join(HERE, "linformer")
    for old in os.listdir(ops) if os.path.isdir(ops) else []:
        if old != "README.md":
            os.remove(os.path.join(ops, old))
    for old in os.listdir(HERE):
        if old.startswith("linformer_encoder"):
            shutil.rmtree(os.path.join(HERE, old))
    print("linformer (attention level)")
    make_op_cases(os.path.join(HERE, "linformer"))
    gen = torch.Generator().manual_seed(SEED)
    print("linformer encoders")
    make_encoder_case(
        "linformer_encoder", [
            "linformer(k = 16, sharing = headwise, seed = 0)",
            "linformer(k = 8, sharing = none, seed = 0)",
            "linformer(k = 100, sharing = key_value, seed = 0)"],
        77, True, None, gen)
    forced = "linformer(k = 12, sharing = layerwise, seed = 5)"
    make_encoder_case("linformer_encoder_forced", [forced] * 3, 77, False,
                      forced, gen)
    return 0


if __name__ == "__main__":
    sys.exit(main())
