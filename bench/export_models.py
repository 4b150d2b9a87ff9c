#!/usr/bin/python3
"""Builds an xfc model spec in PyTorch and exports it for the peers.

For one spec of models/ (encoder or decoder kind) this writes, into --out:
  weights.safetensors  fixed random weights (seeded), in the spec's layout
                       and with the tensor names of docs/spec.md
  spec.json            the spec with "weights" pointing at that file, for
                       `xfc compile`
  model.onnx           the same model exported with torch.onnx.export
  inputs.npz           the inputs every peer runs on (batch 1)
  torch_output.npy     PyTorch's output on them (float32), the reference the
                       other peers' outputs are compared with
  export.json          what was written: sizes, FLOPs, input names

The PyTorch model is written out from docs/spec.md ("The computation") with
torch.nn.functional, not taken from a library, so every choice the spec
makes is visible here: post-/pre-LN, exact or tanh GELU, learned positions,
token types, embedding LayerNorm, final norm, tied LM head, key padding and
causal masks. Biases and LayerNorm parameters are drawn at random too (not
0 and 1), so a missing bias or norm shows in the numerics check.

usage: bench/export_models.py SPEC.json --out DIR [--seq-len 128] [--seed 0]
"""
import argparse
import json
import math
import os
import struct
import sys

import numpy as np
import torch
import torch.nn.functional as F
import warnings

# The trace records the (static) shapes as constants, which is what is
# wanted: every exported model has one fixed sequence length.
warnings.filterwarnings("ignore", category=torch.jit.TracerWarning)

SUPPORTED_KINDS = ("encoder", "decoder")


def spec_defaults(spec):
    """The spec with docs/spec.md's defaults filled in (what we use)."""
    s = dict(spec)
    s.setdefault("max_seq_len", 512)
    s.setdefault("norm_placement", "post")
    s.setdefault("layer_norm_epsilon", 1e-5)
    s.setdefault("final_norm", False)
    s.setdefault("embedding_layer_norm", False)
    s.setdefault("token_type_vocab_size", 0)
    s.setdefault("embedding_scale", 1.0)
    s.setdefault("activation", "gelu")
    s.setdefault("lm_head", s["kind"] != "encoder")
    s.setdefault("tied_output_embedding", False)
    s.setdefault("key_padding_mask", False)
    s.setdefault("positional_encoding", "sinusoidal")
    bias = s.get("bias", True)
    names = ("attention_qkv", "attention_output", "ffn_hidden", "ffn_output")
    if isinstance(bias, bool):
        s["bias"] = {n: bias for n in names}
        s["bias"]["lm_head"] = False
    else:
        s["bias"] = {n: bias.get(n, True) for n in names}
        s["bias"]["lm_head"] = bias.get("lm_head", False)
    if s["kind"] not in SUPPORTED_KINDS:
        sys.exit(f"export_models: kind {s['kind']!r} is not supported here "
                 f"(expected one of {SUPPORTED_KINDS})")
    if s["embedding_scale"] == "sqrt_d_model":
        s["embedding_scale"] = math.sqrt(s["d_model"])
    return s


def weight_list(s):
    """[(name, shape, kind)] in docs/spec.md's canonical order; kind is
    "matrix", "bias" or "norm_weight"/"norm_bias"."""
    D, F_, V = s["d_model"], s["d_ff"], s["vocab_size"]
    stack = "encoder" if s["kind"] == "encoder" else "decoder"
    out = [(f"{stack}.embed.tokens", [V, D], "matrix")]
    if s["positional_encoding"] == "learned":
        out.append((f"{stack}.embed.positions", [s["max_seq_len"], D],
                    "matrix"))
    if s["token_type_vocab_size"] > 0:
        out.append((f"{stack}.embed.token_types",
                    [s["token_type_vocab_size"], D], "matrix"))
    if s["embedding_layer_norm"]:
        out += [(f"{stack}.embed.norm.weight", [D], "norm_weight"),
                (f"{stack}.embed.norm.bias", [D], "norm_bias")]
    b = s["bias"]
    for i in range(s["num_layers"]):
        p = f"{stack}.layers.{i}"
        for proj in ("q", "k", "v", "out"):
            out.append((f"{p}.self_attn.{proj}.weight", [D, D], "matrix"))
            key = "attention_output" if proj == "out" else "attention_qkv"
            if b[key]:
                out.append((f"{p}.self_attn.{proj}.bias", [D], "bias"))
        out += [(f"{p}.self_attn_norm.weight", [D], "norm_weight"),
                (f"{p}.self_attn_norm.bias", [D], "norm_bias")]
        out.append((f"{p}.ffn.fc1.weight", [F_, D], "matrix"))
        if b["ffn_hidden"]:
            out.append((f"{p}.ffn.fc1.bias", [F_], "bias"))
        out.append((f"{p}.ffn.fc2.weight", [D, F_], "matrix"))
        if b["ffn_output"]:
            out.append((f"{p}.ffn.fc2.bias", [D], "bias"))
        out += [(f"{p}.ffn_norm.weight", [D], "norm_weight"),
                (f"{p}.ffn_norm.bias", [D], "norm_bias")]
    if s["final_norm"]:
        out += [(f"{stack}.final_norm.weight", [D], "norm_weight"),
                (f"{stack}.final_norm.bias", [D], "norm_bias")]
    if s["lm_head"]:
        if not s["tied_output_embedding"]:
            out.append(("lm_head.weight", [V, D], "matrix"))
        if b["lm_head"]:
            out.append(("lm_head.bias", [V], "bias"))
    return out


def random_weights(s, seed):
    """Fixed random weights: matrices N(0, 0.02^2), biases N(0, 0.02^2),
    LayerNorm weights 1 + N(0, 0.1^2) and biases N(0, 0.02^2)."""
    g = torch.Generator().manual_seed(seed)
    w = {}
    for name, shape, kind in weight_list(s):
        t = torch.randn(shape, generator=g, dtype=torch.float32)
        if kind == "norm_weight":
            t = 1.0 + 0.1 * t
        else:
            t = 0.02 * t
        w[name] = t.contiguous()
    return w


class SpecModel(torch.nn.Module):
    """docs/spec.md's computation for encoder and decoder kinds, batch B."""

    def __init__(self, s, weights):
        super().__init__()
        self.s = s
        # Registered as buffers so torch.onnx.export stores them as
        # initializers; the dots of the spec names are not allowed in
        # buffer names, hence the index.
        self.names = list(weights)
        for i, n in enumerate(self.names):
            self.register_buffer(f"w{i}", weights[n])
        self.index = {n: i for i, n in enumerate(self.names)}
        self.stack = "encoder" if s["kind"] == "encoder" else "decoder"

    def w(self, name):
        i = self.index.get(name)
        return None if i is None else getattr(self, f"w{i}")

    def ln(self, x, prefix):
        return F.layer_norm(x, (x.shape[-1],), self.w(prefix + ".weight"),
                            self.w(prefix + ".bias"),
                            self.s["layer_norm_epsilon"])

    def linear(self, x, prefix):
        return F.linear(x, self.w(prefix + ".weight"),
                        self.w(prefix + ".bias"))

    def attention(self, x, prefix, mask):
        B, S, D = x.shape
        H = self.s["num_heads"]
        Dh = D // H

        def heads(t):
            return t.view(B, S, H, Dh).transpose(1, 2)

        q = heads(self.linear(x, prefix + ".q"))
        k = heads(self.linear(x, prefix + ".k"))
        v = heads(self.linear(x, prefix + ".v"))
        scores = torch.matmul(q, k.transpose(-1, -2)) / math.sqrt(Dh)
        if mask is not None:
            scores = scores + mask
        p = torch.softmax(scores, dim=-1)
        o = torch.matmul(p, v).transpose(1, 2).reshape(B, S, D)
        return self.linear(o, prefix + ".out")

    def ffn(self, x, prefix):
        h = self.linear(x, prefix + ".fc1")
        act = self.s["activation"]
        if act == "relu":
            h = F.relu(h)
        elif act == "gelu":
            h = F.gelu(h)
        else:
            h = F.gelu(h, approximate="tanh")
        return self.linear(h, prefix + ".fc2")

    def forward(self, input_ids, token_type_ids=None, lengths=None):
        s, st = self.s, self.stack
        B, S = input_ids.shape
        D = s["d_model"]
        # Positions and masks on the inputs' device (a GPU peer too).
        dev = input_ids.device
        x = F.embedding(input_ids, self.w(f"{st}.embed.tokens"))
        if s["embedding_scale"] != 1.0:
            x = x * s["embedding_scale"]
        if s["positional_encoding"] == "learned":
            x = x + self.w(f"{st}.embed.positions")[:S]
        elif s["positional_encoding"] == "sinusoidal":
            pos = torch.arange(S, dtype=torch.float32, device=dev)[:, None]
            i2 = torch.arange(0, D, 2, dtype=torch.float32, device=dev)
            ang = pos / torch.pow(10000.0, i2 / D)
            pe = torch.zeros(S, D, device=dev)
            pe[:, 0::2] = torch.sin(ang)
            pe[:, 1::2] = torch.cos(ang)
            x = x + pe
        if token_type_ids is not None:
            x = x + F.embedding(token_type_ids,
                                self.w(f"{st}.embed.token_types"))
        if s["embedding_layer_norm"]:
            x = self.ln(x, f"{st}.embed.norm")
        # Additive mask [B or 1, 1, S, S]: -inf where a key is not allowed.
        # A query row with every key masked would give NaN here where xfc
        # gives 0; the benchmark runs full lengths, so no row is empty.
        mask = None
        if s["kind"] == "decoder":
            causal = torch.ones(S, S, dtype=torch.bool, device=dev).triu(1)
            mask = torch.zeros(S, S, device=dev).masked_fill(causal, float("-inf"))
            mask = mask[None, None]
        if lengths is not None:
            keys = torch.arange(S, device=dev)[None, :] >= lengths[:, None]
            pad = torch.zeros(B, S, device=dev).masked_fill(keys, float("-inf"))
            pad = pad[:, None, None, :]
            mask = pad if mask is None else mask + pad
        pre = s["norm_placement"] == "pre"
        for i in range(s["num_layers"]):
            p = f"{st}.layers.{i}"
            if pre:
                x = x + self.attention(self.ln(x, p + ".self_attn_norm"),
                                       p + ".self_attn", mask)
                x = x + self.ffn(self.ln(x, p + ".ffn_norm"), p + ".ffn")
            else:
                x = self.ln(x + self.attention(x, p + ".self_attn", mask),
                            p + ".self_attn_norm")
                x = self.ln(x + self.ffn(x, p + ".ffn"), p + ".ffn_norm")
        if s["final_norm"]:
            x = self.ln(x, f"{st}.final_norm")
        if s["lm_head"]:
            table = (self.w(f"{st}.embed.tokens")
                     if s["tied_output_embedding"] else self.w("lm_head.weight"))
            x = F.linear(x, table, self.w("lm_head.bias"))
        return x


def fastpath_supported(s):
    """True if torch.nn.TransformerEncoderLayer's fused inference path
    computes this model's layers: an encoder, post-LN, ReLU or exact GELU,
    every bias present."""
    return (s["kind"] == "encoder" and s["norm_placement"] == "post"
            and s["activation"] in ("relu", "gelu")
            and all(s["bias"][k] for k in ("attention_qkv",
                                           "attention_output", "ffn_hidden",
                                           "ffn_output"))
            and not s["final_norm"] and not s["lm_head"])


class FastPathModel(torch.nn.Module):
    """The same encoder through torch.nn.TransformerEncoder, whose layers
    take PyTorch's fused inference path (eval, no_grad, batch_first) that a
    plain module does not: the best PyTorch has for BERT. The embeddings are
    SpecModel's. The key padding mask is left out: the benchmark runs full
    lengths, where it masks nothing (the fused path would otherwise switch
    to nested tensors)."""

    def __init__(self, s, weights):
        super().__init__()
        self.spec_model = SpecModel(s, weights)
        D, H = s["d_model"], s["num_heads"]
        layer = torch.nn.TransformerEncoderLayer(
            D, H, s["d_ff"], dropout=0.0, activation=s["activation"],
            layer_norm_eps=s["layer_norm_epsilon"], batch_first=True,
            norm_first=False)
        self.encoder = torch.nn.TransformerEncoder(
            layer, s["num_layers"], enable_nested_tensor=False)
        with torch.no_grad():
            for i, lyr in enumerate(self.encoder.layers):
                p = f"encoder.layers.{i}"
                a = lyr.self_attn
                a.in_proj_weight.copy_(torch.cat(
                    [weights[f"{p}.self_attn.{x}.weight"] for x in "qkv"]))
                a.in_proj_bias.copy_(torch.cat(
                    [weights[f"{p}.self_attn.{x}.bias"] for x in "qkv"]))
                a.out_proj.weight.copy_(weights[f"{p}.self_attn.out.weight"])
                a.out_proj.bias.copy_(weights[f"{p}.self_attn.out.bias"])
                lyr.linear1.weight.copy_(weights[f"{p}.ffn.fc1.weight"])
                lyr.linear1.bias.copy_(weights[f"{p}.ffn.fc1.bias"])
                lyr.linear2.weight.copy_(weights[f"{p}.ffn.fc2.weight"])
                lyr.linear2.bias.copy_(weights[f"{p}.ffn.fc2.bias"])
                for norm, name in ((lyr.norm1, "self_attn_norm"),
                                   (lyr.norm2, "ffn_norm")):
                    norm.weight.copy_(weights[f"{p}.{name}.weight"])
                    norm.bias.copy_(weights[f"{p}.{name}.bias"])

    def forward(self, input_ids, token_type_ids=None, lengths=None):
        m, st = self.spec_model, "encoder"
        S = input_ids.shape[1]
        x = F.embedding(input_ids, m.w(f"{st}.embed.tokens"))
        if m.s["embedding_scale"] != 1.0:
            x = x * m.s["embedding_scale"]
        if m.s["positional_encoding"] == "learned":
            x = x + m.w(f"{st}.embed.positions")[:S]
        elif m.s["positional_encoding"] != "none":
            raise ValueError("fast path: only learned or no positions")
        if token_type_ids is not None:
            x = x + F.embedding(token_type_ids,
                                m.w(f"{st}.embed.token_types"))
        if m.s["embedding_layer_norm"]:
            x = m.ln(x, f"{st}.embed.norm")
        return self.encoder(x)


def input_names(s):
    names = ["input_ids"]
    if s["kind"] == "encoder" and s["token_type_vocab_size"] > 0:
        names.append("token_type_ids")
    if s["key_padding_mask"]:
        names.append("lengths")
    return names


def make_inputs(s, seq_len, seed):
    """The batch-1 inputs: random ids, random token types, full lengths."""
    rng = np.random.default_rng(seed)
    inputs = {"input_ids": rng.integers(0, s["vocab_size"], (1, seq_len),
                                        dtype=np.int64).astype(np.int32)}
    if "token_type_ids" in input_names(s):
        inputs["token_type_ids"] = rng.integers(
            0, s["token_type_vocab_size"], (1, seq_len),
            dtype=np.int64).astype(np.int32)
    if "lengths" in input_names(s):
        inputs["lengths"] = np.array([seq_len], dtype=np.int32)
    return inputs


def torch_inputs(s, inputs):
    """Positional torch arguments of SpecModel.forward (int64 ids)."""
    names = input_names(s)
    args = [torch.from_numpy(inputs["input_ids"].astype(np.int64))]
    args.append(torch.from_numpy(inputs["token_type_ids"].astype(np.int64))
                if "token_type_ids" in names else None)
    args.append(torch.from_numpy(inputs["lengths"].astype(np.int64))
                if "lengths" in names else None)
    return args


def model_flops(s, seq_len):
    """Multiply-add FLOPs (2 per MAC) of one batch-1 run: the linears, the
    two attention matmuls (the full S x S, as computed even when causal)
    and the LM head. Element-wise work is left out."""
    D, F_, L, S = s["d_model"], s["d_ff"], s["num_layers"], seq_len
    per_layer = 2 * S * D * D * 4 + 2 * S * D * F_ * 2 + 2 * 2 * S * S * D
    total = L * per_layer
    if s["lm_head"]:
        total += 2 * S * D * s["vocab_size"]
    return total


def write_safetensors(path, tensors):
    """A safetensors file (F32, row-major), 8-byte-aligned header."""
    header, offset, blobs = {}, 0, []
    for name, t in tensors.items():
        data = t.detach().contiguous().numpy().astype("<f4").tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape),
                        "data_offsets": [offset, offset + len(data)]}
        offset += len(data)
        blobs.append(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)))
        f.write(text)
        for b in blobs:
            f.write(b)


def read_safetensors(path):
    """{name: float32 torch tensor} of a safetensors file (F32 only)."""
    with open(path, "rb") as f:
        n = struct.unpack("<Q", f.read(8))[0]
        header = json.loads(f.read(n))
        base = 8 + n
        data = np.memmap(path, dtype=np.uint8, mode="r")
    out = {}
    for name, h in header.items():
        if name == "__metadata__":
            continue
        if h["dtype"] != "F32":
            raise ValueError(f"{path}: {name} has dtype {h['dtype']}, "
                             f"expected F32")
        a, b = h["data_offsets"]
        arr = np.frombuffer(data[base + a:base + b], dtype="<f4")
        out[name] = torch.from_numpy(arr.reshape(h["shape"]).copy())
    return out


def load_exported(out, variant="spec"):
    """(defaulted spec, model in eval mode, inputs, export info) of a folder
    export() wrote; `variant` "spec" is SpecModel, "fastpath"
    FastPathModel."""
    with open(os.path.join(out, "export.json")) as f:
        info = json.load(f)
    with open(os.path.join(out, "spec.json")) as f:
        s = spec_defaults(json.load(f))
    weights = read_safetensors(os.path.join(out, "weights.safetensors"))
    ordered = {n: weights[n] for n, _, _ in weight_list(s)}
    inputs = dict(np.load(os.path.join(out, "inputs.npz")))
    if variant == "fastpath":
        if not fastpath_supported(s):
            raise ValueError("the fused TransformerEncoder path does not "
                             "compute this model")
        return s, FastPathModel(s, ordered).eval(), inputs, info
    return s, SpecModel(s, ordered).eval(), inputs, info


def export(spec_path, out, seq_len, seed):
    with open(spec_path) as f:
        spec = json.load(f)
    s = spec_defaults(spec)
    if seq_len > s["max_seq_len"]:
        sys.exit(f"export_models: --seq-len {seq_len} exceeds max_seq_len "
                 f"{s['max_seq_len']} of {spec_path}")
    os.makedirs(out, exist_ok=True)
    weights = random_weights(s, seed)
    write_safetensors(os.path.join(out, "weights.safetensors"), weights)
    bench_spec = dict(spec)
    bench_spec["weights"] = {"source": "safetensors",
                             "path": "weights.safetensors"}
    with open(os.path.join(out, "spec.json"), "w") as f:
        json.dump(bench_spec, f, indent=2)

    model = SpecModel(s, weights).eval()
    inputs = make_inputs(s, seq_len, seed + 1)
    args = torch_inputs(s, inputs)
    with torch.no_grad():
        ref = model(*args)
    np.save(os.path.join(out, "torch_output.npy"), ref.numpy())
    np.savez(os.path.join(out, "inputs.npz"), **inputs)

    names = input_names(s)
    onnx_args = tuple(a for a in args if a is not None)
    with torch.no_grad():
        torch.onnx.export(model, onnx_args, os.path.join(out, "model.onnx"),
                          input_names=names,
                          output_names=["logits" if s["lm_head"]
                                        else "hidden_states"],
                          opset_version=17, do_constant_folding=True)
    info = {"spec": os.path.abspath(spec_path), "name": spec["name"],
            "seq_len": seq_len, "seed": seed, "inputs": names,
            "flops": model_flops(s, seq_len),
            "weights": len(weights),
            "weight_bytes": sum(t.numel() * 4 for t in weights.values()),
            "output_shape": list(ref.shape), "torch": torch.__version__,
            "pytorch_fastpath": fastpath_supported(s)}
    with open(os.path.join(out, "export.json"), "w") as f:
        json.dump(info, f, indent=2)
    return info


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("spec")
    p.add_argument("--out", required=True)
    p.add_argument("--seq-len", type=int, default=128)
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    torch.set_num_threads(max(1, os.cpu_count() or 1))
    info = export(a.spec, a.out, a.seq_len, a.seed)
    print(f"exported {info['name']} (seq {a.seq_len}, {info['weights']} "
          f"tensors, {info['weight_bytes'] / 2**20:.1f} MiB, "
          f"{info['flops'] / 1e9:.2f} GFLOP) -> {a.out}")


if __name__ == "__main__":
    main()
