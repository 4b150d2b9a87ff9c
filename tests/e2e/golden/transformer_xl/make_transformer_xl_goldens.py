#!/usr/bin/env python3
# ===- make_transformer_xl_goldens.py - Transformer-XL goldens ------------=== #
#
# Part of xfc. A small Transformer-XL language model written after the
# authors' code (kimiyoung/transformer-xl, pytorch/mem_transformer.py:
# PositionalEmbedding, RelPartialLearnableMultiHeadAttn with _rel_shift,
# PositionwiseFF, MemTransformerLM._forward and _update_mems), in float64,
# with seeded random weights. For each case it writes an xfc spec
# (model.json, docs/transformer-xl.md), the weights as safetensors under
# xfc's names, and for three consecutive segments the token ids, the
# logits and every layer's memory after the segment. The C++ test
# (tests/e2e/TransformerXLTest.cpp) runs the segments one after another
# through the runtime API and compares.
#
# The memory files are in xfc's layout: [B, M, D], the filled positions
# last and zeros before them (the authors' mems are [mlen, B, D] with
# mlen growing up to M).
#
# Run with Debian's python3 (torch and numpy only):
#   /usr/bin/python3 tests/e2e/golden/transformer_xl/make_transformer_xl_goldens.py
#
# ===----------------------------------------------------------------------=== #

import json
import os
import struct

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

HERE = os.path.dirname(os.path.abspath(__file__))
SEED = 20261130
ALIGN = 64
NUM_SEGMENTS = 3

# name, norm placement, batch, memory length M, segment length L.
# M > L: the memory fills over two segments (7 of 8, then 8 of 8).
# M < L: each memory is the tail of the previous segment only.
CASES = [
    ("post_m8_l7", "post", 2, 8, 7),
    ("pre_m5_l7", "pre", 1, 5, 7),
]
VOCAB, D_MODEL, N_HEAD, D_HEAD, D_INNER, N_LAYER = 50, 64, 4, 16, 96, 2

torch.set_default_dtype(torch.float64)


# --------------------------------------------------------------------------- #
# The model, after the authors' mem_transformer.py (dropout 0, eval).
# --------------------------------------------------------------------------- #

class PositionalEmbedding(nn.Module):
    def __init__(self, demb):
        super().__init__()
        self.demb = demb
        inv_freq = 1 / (10000 ** (torch.arange(0.0, demb, 2.0) / demb))
        self.register_buffer('inv_freq', inv_freq)

    def forward(self, pos_seq, bsz=None):
        sinusoid_inp = torch.ger(pos_seq, self.inv_freq)
        pos_emb = torch.cat([sinusoid_inp.sin(), sinusoid_inp.cos()], dim=-1)
        return pos_emb[:, None, :]


class PositionwiseFF(nn.Module):
    def __init__(self, d_model, d_inner, pre_lnorm):
        super().__init__()
        self.CoreNet = nn.Sequential(nn.Linear(d_model, d_inner), nn.ReLU(),
                                     nn.Linear(d_inner, d_model))
        self.layer_norm = nn.LayerNorm(d_model)
        self.pre_lnorm = pre_lnorm

    def forward(self, inp):
        if self.pre_lnorm:
            return self.CoreNet(self.layer_norm(inp)) + inp
        return self.layer_norm(inp + self.CoreNet(inp))


class RelPartialLearnableMultiHeadAttn(nn.Module):
    def __init__(self, n_head, d_model, d_head, pre_lnorm):
        super().__init__()
        self.n_head, self.d_model, self.d_head = n_head, d_model, d_head
        self.qkv_net = nn.Linear(d_model, 3 * n_head * d_head, bias=False)
        self.o_net = nn.Linear(n_head * d_head, d_model, bias=False)
        self.r_net = nn.Linear(d_model, n_head * d_head, bias=False)
        self.layer_norm = nn.LayerNorm(d_model)
        self.scale = 1 / (d_head ** 0.5)
        self.pre_lnorm = pre_lnorm

    def _rel_shift(self, x):
        zero_pad = torch.zeros((x.size(0), 1, *x.size()[2:]),
                               device=x.device, dtype=x.dtype)
        x_padded = torch.cat([zero_pad, x], dim=1)
        x_padded = x_padded.view(x.size(1) + 1, x.size(0), *x.size()[2:])
        return x_padded[1:].view_as(x)

    @staticmethod
    def _check_shift(BD, rr_head_q, r_head_k, mlen):
        """The shifted scores against the formula of docs/transformer-xl.md,
        one (i, j) at a time: query i (extended position mlen + i) and key j
        at distance mlen + i - j, whose encoding is row klen - 1 - distance
        (pos_seq runs from klen - 1 down to 0)."""
        qlen, klen = BD.size(0), BD.size(1)
        for i in range(qlen):
            for j in range(mlen + i + 1):
                row = klen - 1 - (mlen + i - j)
                direct = torch.einsum('bnd,nd->bn', rr_head_q[i], r_head_k[row])
                assert torch.allclose(BD[i, j], direct, atol=1e-9), (i, j)

    def forward(self, w, r, r_w_bias, r_r_bias, attn_mask, mems):
        qlen, rlen, bsz = w.size(0), r.size(0), w.size(1)
        cat = torch.cat([mems, w], 0) if mems is not None else w
        if self.pre_lnorm:
            w_heads = self.qkv_net(self.layer_norm(cat))
        else:
            w_heads = self.qkv_net(cat)
        r_head_k = self.r_net(r)
        w_head_q, w_head_k, w_head_v = torch.chunk(w_heads, 3, dim=-1)
        w_head_q = w_head_q[-qlen:]
        klen = w_head_k.size(0)
        w_head_q = w_head_q.view(qlen, bsz, self.n_head, self.d_head)
        w_head_k = w_head_k.view(klen, bsz, self.n_head, self.d_head)
        w_head_v = w_head_v.view(klen, bsz, self.n_head, self.d_head)
        r_head_k = r_head_k.view(rlen, self.n_head, self.d_head)

        rw_head_q = w_head_q + r_w_bias
        AC = torch.einsum('ibnd,jbnd->ijbn', (rw_head_q, w_head_k))
        rr_head_q = w_head_q + r_r_bias
        BD = torch.einsum('ibnd,jnd->ijbn', (rr_head_q, r_head_k))
        BD = self._rel_shift(BD)
        self._check_shift(BD, rr_head_q, r_head_k, klen - qlen)

        attn_score = (AC + BD) * self.scale
        attn_score = attn_score.masked_fill(attn_mask[:, :, None, None],
                                            -float('inf'))
        attn_prob = F.softmax(attn_score, dim=1)
        self.last_logit_std = attn_score[~torch.isinf(attn_score)].std().item()
        attn_vec = torch.einsum('ijbn,jbnd->ibnd', (attn_prob, w_head_v))
        attn_vec = attn_vec.contiguous().view(qlen, bsz,
                                              self.n_head * self.d_head)
        attn_out = self.o_net(attn_vec)
        if self.pre_lnorm:
            return w + attn_out
        return self.layer_norm(w + attn_out)


class RelPartialLearnableDecoderLayer(nn.Module):
    def __init__(self, pre_lnorm):
        super().__init__()
        self.dec_attn = RelPartialLearnableMultiHeadAttn(
            N_HEAD, D_MODEL, D_HEAD, pre_lnorm)
        self.pos_ff = PositionwiseFF(D_MODEL, D_INNER, pre_lnorm)
        # Untied (per-layer) u and v, as with the authors' untie_r.
        self.r_w_bias = nn.Parameter(torch.zeros(N_HEAD, D_HEAD))
        self.r_r_bias = nn.Parameter(torch.zeros(N_HEAD, D_HEAD))

    def forward(self, dec_inp, r, dec_attn_mask, mems):
        output = self.dec_attn(dec_inp, r, self.r_w_bias, self.r_r_bias,
                               dec_attn_mask, mems)
        return self.pos_ff(output)


class MemTransformerLM(nn.Module):
    def __init__(self, pre_lnorm, mem_len):
        super().__init__()
        self.word_emb = nn.Embedding(VOCAB, D_MODEL)
        self.emb_scale = D_MODEL ** 0.5
        self.pos_emb = PositionalEmbedding(D_MODEL)
        self.layers = nn.ModuleList(
            [RelPartialLearnableDecoderLayer(pre_lnorm)
             for _ in range(N_LAYER)])
        self.out = nn.Linear(D_MODEL, VOCAB)
        self.mem_len = mem_len

    def _update_mems(self, hids, mems, mlen, qlen):
        # ext_len = 0: keep the last mem_len of [mems ; hids].
        with torch.no_grad():
            new_mems = []
            end_idx = mlen + max(0, qlen)
            beg_idx = max(0, end_idx - self.mem_len)
            for i in range(len(hids)):
                cat = torch.cat([mems[i], hids[i]], dim=0)
                new_mems.append(cat[beg_idx:end_idx].detach())
        return new_mems

    def forward(self, dec_inp, mems):
        qlen, bsz = dec_inp.size()
        word_emb = self.word_emb(dec_inp) * self.emb_scale
        mlen = mems[0].size(0)
        klen = mlen + qlen
        dec_attn_mask = torch.triu(torch.ones(qlen, klen),
                                   diagonal=1 + mlen).bool()
        hids = []
        pos_seq = torch.arange(klen - 1, -1, -1.0)
        pos_emb = self.pos_emb(pos_seq)
        core_out = word_emb
        hids.append(core_out)
        for i, layer in enumerate(self.layers):
            core_out = layer(core_out, pos_emb, dec_attn_mask, mems[i])
            hids.append(core_out)
        new_mems = self._update_mems(hids, mems, mlen, qlen)
        return self.out(core_out), new_mems

    def init_mems(self, bsz):
        return [torch.empty(0, bsz, D_MODEL) for _ in range(N_LAYER + 1)]


# --------------------------------------------------------------------------- #
# Files
# --------------------------------------------------------------------------- #

def write_safetensors(path, tensors):
    """(name, tensor) pairs as float32 safetensors, 64-byte aligned."""
    header, blobs, offset = {}, [], 0
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


def xfc_weights(model):
    """The model's tensors under xfc's weight names (docs/spec.md)."""
    out = [("decoder.embed.tokens", model.word_emb.weight)]
    d = D_MODEL
    for i, layer in enumerate(model.layers):
        p = "decoder.layers.%d." % i
        attn, ff = layer.dec_attn, layer.pos_ff
        qkv = attn.qkv_net.weight
        out += [(p + "self_attn.q.weight", qkv[0:d]),
                (p + "self_attn.k.weight", qkv[d:2 * d]),
                (p + "self_attn.v.weight", qkv[2 * d:3 * d]),
                (p + "self_attn.out.weight", attn.o_net.weight),
                (p + "self_attn.r.weight", attn.r_net.weight),
                (p + "self_attn.r_w_bias", layer.r_w_bias),
                (p + "self_attn.r_r_bias", layer.r_r_bias),
                (p + "self_attn_norm.weight", attn.layer_norm.weight),
                (p + "self_attn_norm.bias", attn.layer_norm.bias),
                (p + "ffn.fc1.weight", ff.CoreNet[0].weight),
                (p + "ffn.fc1.bias", ff.CoreNet[0].bias),
                (p + "ffn.fc2.weight", ff.CoreNet[2].weight),
                (p + "ffn.fc2.bias", ff.CoreNet[2].bias),
                (p + "ffn_norm.weight", ff.layer_norm.weight),
                (p + "ffn_norm.bias", ff.layer_norm.bias)]
    out += [("lm_head.weight", model.out.weight),
            ("lm_head.bias", model.out.bias)]
    return out


def spec_for(name, norm, mem_len):
    return {
        "xfc_spec_version": 1,
        "name": "transformer_xl_" + name,
        "kind": "decoder",
        "vocab_size": VOCAB,
        "d_model": D_MODEL,
        "num_heads": N_HEAD,
        "d_ff": D_INNER,
        "num_layers": N_LAYER,
        "norm_placement": norm,
        "layer_norm_epsilon": 1e-5,
        "embedding_scale": "sqrt_d_model",
        "activation": "relu",
        # The authors' qkv_net and o_net have no bias; the FFN has.
        "bias": {"attention_qkv": False, "attention_output": False,
                 "lm_head": True},
        "lm_head": True,
        "transformer_xl": {"memory_length": mem_len},
        "weights": {"source": "safetensors", "path": "weights.safetensors"},
    }


def xfc_memory(mem, mem_len):
    """Authors' [mlen, B, D] memory as xfc's [B, M, D], zeros first."""
    mlen, bsz, d = mem.shape
    out = torch.zeros(bsz, mem_len, d)
    if mlen:
        out[:, mem_len - mlen:, :] = mem.transpose(0, 1)
    return out


def make_case(name, norm, batch, mem_len, seg_len, gen):
    folder = os.path.join(HERE, name)
    os.makedirs(folder, exist_ok=True)
    model = MemTransformerLM(norm == "pre", mem_len).eval()
    with torch.no_grad():
        # Scales chosen so attention is far from uniform (see the logit
        # std printed below) and the position term matters.
        for p_name, p in model.named_parameters():
            if "layer_norm" in p_name:
                p.copy_((1.0 if p_name.endswith("weight") else 0.0)
                        + 0.1 * torch.randn(p.shape, generator=gen))
            elif p_name.endswith("r_w_bias") or p_name.endswith("r_r_bias"):
                p.copy_(0.5 * torch.randn(p.shape, generator=gen))
            elif p_name.startswith("word_emb"):
                p.copy_(0.1 * torch.randn(p.shape, generator=gen))
            else:
                p.copy_(0.25 * torch.randn(p.shape, generator=gen))
    with open(os.path.join(folder, "model.json"), "w") as f:
        json.dump(spec_for(name, norm, mem_len), f, indent=2)
        f.write("\n")
    write_safetensors(os.path.join(folder, "weights.safetensors"),
                      xfc_weights(model))
    mems = model.init_mems(batch)
    for s in range(1, NUM_SEGMENTS + 1):
        ids = torch.randint(0, VOCAB, (batch, seg_len), generator=gen)
        with torch.no_grad():
            logits, mems = model(ids.t().contiguous(), mems)
        logits = logits.transpose(0, 1)  # [B, L, V]
        stds = [layer.dec_attn.last_logit_std for layer in model.layers]
        print("%s segment %d: attention logit std %s, memory %d" %
              (name, s, ", ".join("%.2f" % x for x in stds),
               mems[0].size(0)))
        np.save(os.path.join(folder, "segment%d_input_ids.npy" % s),
                ids.numpy().astype(np.int32))
        np.save(os.path.join(folder, "segment%d_logits.npy" % s),
                logits.numpy().astype(np.float32))
        for i in range(N_LAYER):
            np.save(os.path.join(folder, "segment%d_memory%d.npy" % (s, i)),
                    xfc_memory(mems[i], mem_len).numpy().astype(np.float32))
    # Self-check: a model whose memory is dropped gives other logits on
    # the last segment, so the goldens do depend on the memory.
    with torch.no_grad():
        alone, _ = model(ids.t().contiguous(), model.init_mems(batch))
    diff = (alone.transpose(0, 1) - logits).abs().max().item()
    print("%s: last segment without memory differs by %.3f" % (name, diff))
    assert diff > 1e-2


def main():
    gen = torch.Generator().manual_seed(SEED)
    for case in CASES:
        make_case(*case, gen)


if __name__ == "__main__":
    main()
