#!/usr/bin/env python3
# ===- make_goldens.py - PyTorch goldens for the end-to-end tests ---------=== #
#
# Part of xfc. Builds three small Transformers out of real torch.nn modules
# (a BERT-like encoder, a GPT-like decoder and the encoder-decoder of
# "Attention Is All You Need"), gives them seeded random weights, and writes
# for each one an xfc spec (docs/spec.md), its weights as safetensors under
# xfc's weight names, and, per shape, the inputs and PyTorch's output as .npy.
# PyTorch is the oracle: the C++ reference model and every compiled artifact
# are checked against these files. See README.md beside this script.
#
# Run with Debian's python3 (torch and numpy only):
#   /usr/bin/python3 tests/e2e/golden/make_goldens.py
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
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20240611
BATCH = 2
# Every attention module must have a logit std at least this large, so that
# softmax is far from uniform and an error in Q, K, the scale or the mask
# shows up in the outputs instead of being averaged away.
MIN_LOGIT_STD = 2.0
# Safetensors data area and tensors start on this boundary, as xfc's own
# writer does, so the files can be mapped and used in place.
ALIGN = 64


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #

def write_safetensors(path, tensors):
    """Writes an ordered list of (name, float32 tensor) as safetensors.

    Offsets in the header are relative to the data area. The header is padded
    with spaces (allowed by the format) so the data area is 64-byte aligned;
    a tensor whose size is not a multiple of 64 bytes is followed by zero
    padding so the next one stays aligned.
    """
    header = {}
    blobs = []
    offset = 0
    for name, t in tensors:
        arr = t.detach().to(torch.float32).contiguous().numpy()
        data = arr.astype('<f4').tobytes()
        header[name] = {"dtype": "F32", "shape": list(arr.shape),
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


def save_npy(folder, name, arr):
    np.save(os.path.join(folder, name + ".npy"), arr)


# --------------------------------------------------------------------------- #
# Weights
# --------------------------------------------------------------------------- #

# Standard deviations of the random weights. W_q and W_k are large so that
# attention logits have a std well above MIN_LOGIT_STD (for unit-variance
# inputs the logit std is about d_model * std^2); the rest keeps activations
# of order one.
QK_STD = 0.16
OTHER_STD = 0.08
EMBED_STD = 0.5


def randn(*shape, std):
    return torch.randn(*shape, dtype=torch.float32) * std


@torch.no_grad()
def init_mha(mha):
    d = mha.embed_dim
    w = torch.cat([randn(d, d, std=QK_STD), randn(d, d, std=QK_STD),
                   randn(d, d, std=OTHER_STD)])
    mha.in_proj_weight.copy_(w)
    mha.in_proj_bias.copy_(randn(3 * d, std=0.1))
    mha.out_proj.weight.copy_(randn(d, d, std=OTHER_STD))
    mha.out_proj.bias.copy_(randn(d, std=0.1))


@torch.no_grad()
def init_ln(ln):
    # Not 1 and 0, so a LayerNorm that forgets its affine part is caught.
    ln.weight.copy_(1.0 + 0.1 * torch.randn(ln.weight.shape))
    ln.bias.copy_(0.1 * torch.randn(ln.bias.shape))


@torch.no_grad()
def init_linear(lin):
    lin.weight.copy_(randn(*lin.weight.shape, std=OTHER_STD))
    if lin.bias is not None:
        lin.bias.copy_(randn(*lin.bias.shape, std=0.1))


def init_layer(layer):
    """Initializes a TransformerEncoderLayer or TransformerDecoderLayer."""
    init_mha(layer.self_attn)
    if hasattr(layer, "multihead_attn"):
        init_mha(layer.multihead_attn)
    init_linear(layer.linear1)
    init_linear(layer.linear2)
    for ln in (layer.norm1, layer.norm2, getattr(layer, "norm3", None)):
        if ln is not None:
            init_ln(ln)


def mha_weights(prefix, mha):
    """xfc names for nn.MultiheadAttention: in_proj split into q, k, v."""
    d = mha.embed_dim
    w, b = mha.in_proj_weight, mha.in_proj_bias
    out = []
    for i, n in enumerate("qkv"):
        out.append((f"{prefix}.{n}.weight", w[i * d:(i + 1) * d]))
        out.append((f"{prefix}.{n}.bias", b[i * d:(i + 1) * d]))
    out.append((f"{prefix}.out.weight", mha.out_proj.weight))
    out.append((f"{prefix}.out.bias", mha.out_proj.bias))
    return out


def ln_weights(prefix, ln):
    return [(prefix + ".weight", ln.weight), (prefix + ".bias", ln.bias)]


def layer_weights(prefix, layer):
    """One layer in xfc's canonical order (docs/spec.md, "Weight names").

    PyTorch's encoder layer has norm1 (after self-attention) and norm2 (after
    the feed-forward); its decoder layer has norm1, norm2 (after
    cross-attention) and norm3 (after the feed-forward).
    """
    w = mha_weights(prefix + ".self_attn", layer.self_attn)
    w += ln_weights(prefix + ".self_attn_norm", layer.norm1)
    if hasattr(layer, "multihead_attn"):
        w += mha_weights(prefix + ".cross_attn", layer.multihead_attn)
        w += ln_weights(prefix + ".cross_attn_norm", layer.norm2)
        ffn_norm = layer.norm3
    else:
        ffn_norm = layer.norm2
    w += [(prefix + ".ffn.fc1.weight", layer.linear1.weight),
          (prefix + ".ffn.fc1.bias", layer.linear1.bias),
          (prefix + ".ffn.fc2.weight", layer.linear2.weight),
          (prefix + ".ffn.fc2.bias", layer.linear2.bias)]
    w += ln_weights(prefix + ".ffn_norm", ffn_norm)
    return w


# --------------------------------------------------------------------------- #
# Attention-logit statistics
# --------------------------------------------------------------------------- #

class LogitProbe:
    """Records q.k/sqrt(Dh) over the allowed pairs of every attention module.

    A forward pre-hook on each nn.MultiheadAttention sees the module's query
    and key inputs; the logits are recomputed from them with the module's own
    projections. The mask of the call is given by `mask_for(module, Sq, Sk)`
    (a [B, Sq, Sk] bool tensor, True = allowed), set by the caller for the
    forward pass about to run, because PyTorch passes masks as keyword
    arguments, which pre-hooks do not see.
    """

    def __init__(self):
        self.names = {}
        self.logits = {}
        self.mask_for = None
        self.handles = []

    def attach(self, name, mha):
        self.names[mha] = name
        self.logits[name] = []
        self.handles.append(mha.register_forward_pre_hook(self._hook))

    @torch.no_grad()
    def _hook(self, mha, args):
        q_in, k_in = args[0], args[1]
        d, h = mha.embed_dim, mha.num_heads
        dh = d // h
        w, b = mha.in_proj_weight, mha.in_proj_bias
        q = F.linear(q_in, w[:d], b[:d])
        k = F.linear(k_in, w[d:2 * d], b[d:2 * d])
        bsz, sq, sk = q.shape[0], q.shape[1], k.shape[1]
        q = q.view(bsz, sq, h, dh).transpose(1, 2)
        k = k.view(bsz, sk, h, dh).transpose(1, 2)
        s = q @ k.transpose(-1, -2) / math.sqrt(dh)  # [B, H, Sq, Sk]
        allowed = self.mask_for(mha, sq, sk)[:, None].expand_as(s)
        self.logits[self.names[mha]].append(s[allowed].double().flatten())

    def stds(self):
        return {n: torch.cat(v).std(unbiased=False).item()
                for n, v in self.logits.items()}

    def detach(self):
        for hd in self.handles:
            hd.remove()


def padding_allowed(lengths, sq, sk):
    """[B, Sq, Sk]: key j allowed iff j < lengths[b]."""
    j = torch.arange(sk)
    return (j[None, :] < lengths[:, None])[:, None, :].expand(-1, sq, -1)


def causal_allowed(bsz, sq, sk):
    i = torch.arange(sq)[:, None]
    j = torch.arange(sk)[None, :]
    return (j <= i)[None].expand(bsz, -1, -1)


def causal_float_mask(n, dtype):
    """PyTorch's additive causal mask: -inf above the diagonal, 0 elsewhere."""
    return torch.triu(torch.full((n, n), float("-inf"), dtype=dtype), 1)


def sinusoidal(n, d):
    """PE(p, 2k) = sin(p / 10000^(2k/d)), PE(p, 2k+1) = cos(...), float64."""
    p = torch.arange(n, dtype=torch.float64)[:, None]
    two_k = torch.arange(0, d, 2, dtype=torch.float64)[None, :]
    angle = p / torch.pow(torch.tensor(10000.0, dtype=torch.float64), two_k / d)
    pe = torch.zeros(n, d, dtype=torch.float64)
    pe[:, 0::2] = torch.sin(angle)
    pe[:, 1::2] = torch.cos(angle)
    return pe


# --------------------------------------------------------------------------- #
# The three models
# --------------------------------------------------------------------------- #

class BertLike(nn.Module):
    """Post-LN encoder with learned positions, token types, embedding LN."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.tokens = nn.Embedding(cfg["vocab_size"], d)
        self.positions = nn.Embedding(cfg["max_seq_len"], d)
        self.token_types = nn.Embedding(cfg["token_type_vocab_size"], d)
        self.embed_norm = nn.LayerNorm(d, eps=cfg["layer_norm_epsilon"])
        layer = nn.TransformerEncoderLayer(
            d, cfg["num_heads"], cfg["d_ff"], dropout=0.0, activation="gelu",
            layer_norm_eps=cfg["layer_norm_epsilon"], batch_first=True,
            norm_first=False)
        self.encoder = nn.TransformerEncoder(layer, cfg["num_layers"],
                                             enable_nested_tensor=False)

    def forward(self, input_ids, token_type_ids, lengths):
        s = input_ids.shape[1]
        pos = torch.arange(s)
        e = (self.tokens(input_ids) + self.positions(pos)[None]
             + self.token_types(token_type_ids))
        e = self.embed_norm(e)
        pad = torch.arange(s)[None, :] >= lengths[:, None]  # True = ignored
        return self.encoder(e, src_key_padding_mask=pad)

    def init(self):
        with torch.no_grad():
            for emb in (self.tokens, self.positions, self.token_types):
                emb.weight.copy_(randn(*emb.weight.shape, std=EMBED_STD))
        init_ln(self.embed_norm)
        for layer in self.encoder.layers:
            init_layer(layer)

    def xfc_weights(self):
        w = [("encoder.embed.tokens", self.tokens.weight),
             ("encoder.embed.positions", self.positions.weight),
             ("encoder.embed.token_types", self.token_types.weight)]
        w += ln_weights("encoder.embed.norm", self.embed_norm)
        for i, layer in enumerate(self.encoder.layers):
            w += layer_weights(f"encoder.layers.{i}", layer)
        return w

    def attention_modules(self):
        return [(f"encoder.layers.{i}.self_attn", l.self_attn)
                for i, l in enumerate(self.encoder.layers)]


def gelu_tanh(x):
    return F.gelu(x, approximate="tanh")


class GptLike(nn.Module):
    """Pre-LN causal decoder, learned positions, final LN, tied LM head."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.tokens = nn.Embedding(cfg["vocab_size"], d)
        self.positions = nn.Embedding(cfg["max_seq_len"], d)
        self.layers = nn.ModuleList([
            nn.TransformerEncoderLayer(
                d, cfg["num_heads"], cfg["d_ff"], dropout=0.0,
                activation=gelu_tanh, layer_norm_eps=cfg["layer_norm_epsilon"],
                batch_first=True, norm_first=True)
            for _ in range(cfg["num_layers"])])
        self.final_norm = nn.LayerNorm(d, eps=cfg["layer_norm_epsilon"])

    def forward(self, input_ids):
        s = input_ids.shape[1]
        h = self.tokens(input_ids) + self.positions(torch.arange(s))[None]
        mask = causal_float_mask(s, h.dtype)
        for layer in self.layers:
            h = layer(h, src_mask=mask)
        h = self.final_norm(h)
        return h @ self.tokens.weight.T  # tied output embedding, no bias

    def init(self):
        with torch.no_grad():
            # Small token embeddings keep the tied logits of order one
            # (LN output of unit scale dotted with 160-wide rows).
            self.tokens.weight.copy_(randn(*self.tokens.weight.shape, std=0.1))
            self.positions.weight.copy_(
                randn(*self.positions.weight.shape, std=0.1))
        for layer in self.layers:
            init_layer(layer)
        init_ln(self.final_norm)

    def xfc_weights(self):
        w = [("decoder.embed.tokens", self.tokens.weight),
             ("decoder.embed.positions", self.positions.weight)]
        for i, layer in enumerate(self.layers):
            w += layer_weights(f"decoder.layers.{i}", layer)
        w += ln_weights("decoder.final_norm", self.final_norm)
        return w

    def attention_modules(self):
        return [(f"decoder.layers.{i}.self_attn", l.self_attn)
                for i, l in enumerate(self.layers)]


class Aiayn(nn.Module):
    """nn.Transformer with a shared, sqrt(d)-scaled token table, sinusoidal
    positions and an LM head with bias."""

    def __init__(self, cfg):
        super().__init__()
        d = cfg["d_model"]
        self.d = d
        self.tokens = nn.Embedding(cfg["vocab_size"], d)
        self.transformer = nn.Transformer(
            d, cfg["num_heads"], cfg["num_layers"], cfg["num_decoder_layers"],
            cfg["d_ff"], dropout=0.0, activation="relu",
            layer_norm_eps=cfg["layer_norm_epsilon"], batch_first=True,
            norm_first=False)
        # Padded source rows must stay ordinary dense rows (they are only
        # masked as keys), not be dropped by the nested-tensor path.
        self.transformer.encoder.enable_nested_tensor = False
        self.lm_head = nn.Linear(d, cfg["vocab_size"], bias=True)
        self.register_buffer("pe", sinusoidal(cfg["max_seq_len"], d),
                             persistent=False)

    def embed(self, ids):
        x = self.tokens(ids) * math.sqrt(self.d)
        return x + self.pe[:ids.shape[1]].to(x.dtype)[None]

    def forward(self, src_ids, tgt_ids, src_lengths):
        s, t = src_ids.shape[1], tgt_ids.shape[1]
        pad = torch.arange(s)[None, :] >= src_lengths[:, None]
        src, tgt = self.embed(src_ids), self.embed(tgt_ids)
        out = self.transformer(
            src, tgt, tgt_mask=causal_float_mask(t, src.dtype),
            src_key_padding_mask=pad, memory_key_padding_mask=pad)
        return self.lm_head(out)

    def init(self):
        with torch.no_grad():
            # x sqrt(128) ~ 11.3 brings the token part to about unit scale,
            # comparable with the sinusoid.
            self.tokens.weight.copy_(randn(*self.tokens.weight.shape, std=0.1))
        for layer in self.transformer.encoder.layers:
            init_layer(layer)
        for layer in self.transformer.decoder.layers:
            init_layer(layer)
        init_ln(self.transformer.encoder.norm)
        init_ln(self.transformer.decoder.norm)
        init_linear(self.lm_head)

    def xfc_weights(self):
        w = [("encoder.embed.tokens", self.tokens.weight)]
        for i, layer in enumerate(self.transformer.encoder.layers):
            w += layer_weights(f"encoder.layers.{i}", layer)
        w += ln_weights("encoder.final_norm", self.transformer.encoder.norm)
        for i, layer in enumerate(self.transformer.decoder.layers):
            w += layer_weights(f"decoder.layers.{i}", layer)
        w += ln_weights("decoder.final_norm", self.transformer.decoder.norm)
        w += [("lm_head.weight", self.lm_head.weight),
              ("lm_head.bias", self.lm_head.bias)]
        return w

    def attention_modules(self):
        m = [(f"encoder.layers.{i}.self_attn", l.self_attn)
             for i, l in enumerate(self.transformer.encoder.layers)]
        for i, l in enumerate(self.transformer.decoder.layers):
            m.append((f"decoder.layers.{i}.self_attn", l.self_attn))
            m.append((f"decoder.layers.{i}.cross_attn", l.multihead_attn))
        return m


# --------------------------------------------------------------------------- #
# Cases
# --------------------------------------------------------------------------- #

BERT_SPEC = {
    "xfc_spec_version": 1, "name": "bert_like", "kind": "encoder",
    "vocab_size": 64, "d_model": 128, "num_heads": 2, "d_ff": 256,
    "num_layers": 2, "max_seq_len": 128, "norm_placement": "post",
    "layer_norm_epsilon": 1e-12, "final_norm": False,
    "embedding_layer_norm": True, "token_type_vocab_size": 2,
    "embedding_scale": 1.0, "activation": "gelu", "bias": True,
    "lm_head": False, "key_padding_mask": True,
    "positional_encoding": "learned", "dtype": "f32",
}

GPT_SPEC = {
    "xfc_spec_version": 1, "name": "gpt_like", "kind": "decoder",
    "vocab_size": 96, "d_model": 160, "num_heads": 2, "d_ff": 320,
    "num_layers": 2, "max_seq_len": 96, "norm_placement": "pre",
    "layer_norm_epsilon": 1e-5, "final_norm": True,
    "embedding_layer_norm": False, "embedding_scale": 1.0,
    "activation": "gelu_tanh", "bias": {"lm_head": False}, "lm_head": True,
    "tied_output_embedding": True, "key_padding_mask": False,
    "positional_encoding": "learned", "dtype": "f32",
}

AIAYN_SPEC = {
    "xfc_spec_version": 1, "name": "transformer_aiayn",
    "kind": "encoder_decoder", "vocab_size": 64, "d_model": 128,
    "num_heads": 2, "d_ff": 256, "num_layers": 2, "num_decoder_layers": 2,
    "max_seq_len": 128, "norm_placement": "post", "layer_norm_epsilon": 1e-5,
    "final_norm": True, "embedding_scale": "sqrt_d_model",
    "activation": "relu", "bias": {"lm_head": True}, "lm_head": True,
    "tied_output_embedding": False, "shared_embeddings": True,
    "key_padding_mask": True, "positional_encoding": "sinusoidal",
    "dtype": "f32",
}


def lengths_for(s):
    """One full and one padded sequence (never empty)."""
    return torch.tensor([s, max(1, s - 3)], dtype=torch.int64)


def bert_shapes(gen, spec):
    for s in (1, 7, 77, 128):
        ids = torch.randint(0, spec["vocab_size"], (BATCH, s), generator=gen)
        tt = torch.randint(0, spec["token_type_vocab_size"], (BATCH, s),
                           generator=gen)
        yield f"s{s}", {"input_ids": ids, "token_type_ids": tt,
                        "lengths": lengths_for(s)}


def gpt_shapes(gen, spec):
    for s in (1, 7, 77):
        ids = torch.randint(0, spec["vocab_size"], (BATCH, s), generator=gen)
        yield f"s{s}", {"input_ids": ids}


def aiayn_shapes(gen, spec):
    for s, t in ((7, 5), (1, 1), (77, 13)):
        src = torch.randint(0, spec["vocab_size"], (BATCH, s), generator=gen)
        tgt = torch.randint(0, spec["vocab_size"], (BATCH, t), generator=gen)
        yield f"s{s}_t{t}", {"src_ids": src, "tgt_ids": tgt,
                             "src_lengths": lengths_for(s)}


def mask_rules(case, model, inputs):
    """mask_for(module, Sq, Sk) for the probe: which pairs each module may
    attend to in this forward pass, per docs/spec.md "Masks per kind"."""
    names = {m: n for n, m in model.attention_modules()}

    def mask_for(mha, sq, sk):
        n = names[mha]
        if case == "bert_like":
            return padding_allowed(inputs["lengths"], sq, sk)
        if case == "gpt_like":
            return causal_allowed(BATCH, sq, sk)
        if n.startswith("decoder") and n.endswith("self_attn"):
            return causal_allowed(BATCH, sq, sk)
        return padding_allowed(inputs["src_lengths"], sq, sk)
    return mask_for


CASES = [
    ("bert_like", BERT_SPEC, BertLike, bert_shapes),
    ("gpt_like", GPT_SPEC, GptLike, gpt_shapes),
    ("transformer_aiayn", AIAYN_SPEC, Aiayn, aiayn_shapes),
]


def valid_rows(spec, inputs, rows):
    """[B, rows] bool: rows the golden comparison uses (see README.md)."""
    if spec["kind"] != "encoder_decoder" and spec.get("key_padding_mask"):
        return torch.arange(rows)[None, :] < inputs["lengths"][:, None]
    return torch.ones(BATCH, rows, dtype=torch.bool)


def make_case(name, spec_base, model_cls, shapes_fn, gen):
    folder = os.path.join(HERE, name)
    if os.path.isdir(folder):
        shutil.rmtree(folder)
    os.makedirs(folder)

    model = model_cls(spec_base)
    model.init()
    model.eval()

    spec = dict(spec_base)
    spec["weights"] = {"source": "safetensors", "path": "weights.safetensors"}
    write_json(os.path.join(folder, "spec.json"), spec)
    write_safetensors(os.path.join(folder, "weights.safetensors"),
                      model.xfc_weights())

    # float64 from the float32 weights just written: PyTorch's own rounding
    # then stays far below the tolerance of every comparison.
    model.double()
    probe = LogitProbe()
    for n, m in model.attention_modules():
        probe.attach(n, m)

    max_abs = 0.0
    for shape_name, inputs in shapes_fn(gen, spec_base):
        sub = os.path.join(folder, shape_name)
        os.makedirs(sub)
        probe.mask_for = mask_rules(name, model, inputs)
        # Grad mode keeps PyTorch on its composite (non-fused) path, so the
        # pre-hooks see every attention call.
        with torch.enable_grad():
            out = model(*inputs.values()).detach()
        # The fused inference path must agree: a sanity check of the oracle.
        probe_mask = probe.mask_for
        probe.mask_for = lambda m, sq, sk: torch.zeros(BATCH, sq, sk,
                                                       dtype=torch.bool)
        with torch.no_grad():
            out_fast = model(*inputs.values())
        probe.mask_for = probe_mask
        rows = valid_rows(spec_base, inputs, out.shape[1])
        diff = (out - out_fast)[rows].abs().max().item()
        assert diff < 1e-9, f"{name}/{shape_name}: paths differ by {diff}"

        for k, v in inputs.items():
            save_npy(sub, k, v.to(torch.int32).numpy())
        save_npy(sub, "expected", out.to(torch.float32).numpy())
        max_abs = max(max_abs, out[rows].abs().max().item())
        print(f"  {name}/{shape_name}: output {tuple(out.shape)}, "
              f"valid rows {int(rows.sum())}/{rows.numel()}")

    probe.detach()
    stds = probe.stds()
    for n, v in stds.items():
        print(f"  {name}: attention-logit std {n} = {v:.3f}")
    bad = {n: v for n, v in stds.items() if v < MIN_LOGIT_STD}
    assert not bad, f"{name}: attention too close to uniform: {bad}"
    print(f"  {name}: max |output| = {max_abs:.4f}")
    return stds, max_abs


def main():
    torch.manual_seed(SEED)
    gen = torch.Generator().manual_seed(SEED + 1)
    for name, spec, cls, shapes in CASES:
        print(name)
        make_case(name, spec, cls, shapes, gen)
    total = 0
    for root, _, files in os.walk(HERE):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"total size of tests/e2e/golden: {total / 1e6:.2f} MB")
    return 0


if __name__ == "__main__":
    sys.exit(main())
