#!/usr/bin/env python3
#===- make_beam_goldens.py - Beam search of transformers' generate --------===#
#
# Part of xfc. A random MarianMTModel whose computation is exactly that of
# the xfc encoder_decoder spec marian_tiny/spec.json, and the ids and scores
# transformers' own `generate` finds for it with greedy and beam search: the
# oracle for xfc's encoder-decoder generation.
#
# Versions used to make the committed files: Python 3.11, torch 1.13
# (Debian's python3-torch), transformers 4.36.2, numpy 1.24:
#
#   apt-get install python3-torch
#   /usr/bin/python3 -m venv --system-site-packages /tmp/hfvenv
#   /tmp/hfvenv/bin/pip install transformers==4.36.2
#   /tmp/hfvenv/bin/python tests/e2e/golden/hf/make_beam_goldens.py [--xfc BIN]
#
# With --xfc (a built xfc binary) the script also compiles spec.json and
# checks xfc's whole-sequence logits against the model's (it proves the
# weight mapping); the files it writes do not depend on it.
#
# The model (MarianConfig below): vocab 48, d_model 64, 4 heads, d_ff 128,
# 2 encoder and 2 decoder layers, relu, embeddings scaled by sqrt(d_model),
# one token table shared by encoder, decoder and the LM head, pad 0, EOS 1,
# decoder start 0. Marian (modeling_marian.py of 4.36.2) is post-LN
# (LN(x + f(x)), nn.LayerNorm with eps 1e-5) with no embedding LayerNorm and
# no final LayerNorm; q is (x Wq^T + bq) * head_dim^-0.5, i.e. the standard
# scaled dot product. What had to be changed to make it xfc's math:
#   - positions: Marian's sinusoidal table puts every sin in the first half
#     and every cos in the second; xfc interleaves them (docs/spec.md). Both
#     embed_positions tables are overwritten with the interleaved one
#     (float64 in the float64 model) and the script checks that they are
#     what the layers add.
#   - final_logits_bias (a buffer added to the logits) is left at zero, so
#     the LM head is the tied table without bias (spec: bias.lm_head false).
#   - logits processors: MarianConfig defaults to forced_eos_token_id = 0
#     (it would force EOS at the last step); it is set to None. min_length
#     0, no bad_words_ids, no_repeat_ngram_size 0, repetition_penalty 1,
#     no suppress tokens, renormalize_logits False. transformers 4.36.2 has
#     no adjust_logits_during_generation hook any more (Marian's old pad
#     logit = -inf lived there). The script wraps _get_logits_processor and
#     asserts that the list generate uses is empty, so every step's score is
#     exactly log_softmax(logits) (+ the beam's running sum).
# Weights are random (torch generator seed WEIGHT_SEED, in parameter order)
# but shaped so that greedy and beam search have something to search: plain
# N(0, 0.02^2) weights make a tied-embedding decoder repeat one token, as its
# output is then dominated by the source (cross-attention) or by the copied
# input token. Here: token table N(0, 0.1^2); q, k N(0, 0.3^2) (sharp
# attention); the decoder's cross-attention out and fc2 N(0, 0.02^2) and its
# self-attention out N(0, 0.05^2) (small updates, so position and previous
# tokens survive the post-LNs); every other linear N(0, 0.2^2); biases
# N(0, 0.1^2); LayerNorm weights 1 + N(0, 0.2^2), except the last decoder
# LayerNorm (final_layer_norm of decoder layer 1) whose weight is
# N(0, 4^2): zero mean, so the tied head does not favour the input token,
# and large, so the distributions are peaked (mean entropy about 1.8
# nats); its bias gets + 3 * E[EOS] / |E[EOS]| so that EOS ends some
# hypotheses early. The source ids are drawn with seed SOURCE_SEED, chosen
# so that the cases differ and every decision is far from a tie.
#
# Float64 in torch 1.13: transformers' causal mask is built with
# torch.full(..., finfo(float64).min) and no dtype, which overflows torch
# 1.13's float32 default; the float64 runs set the default dtype to float64
# (DefaultDtype). generate's own tensors have explicit dtypes (the beam
# scores start as float32 0 / -1e9, exact in both).
#
# Every run is in float64 (model.double()); the same run in float32 must give
# identical ids (the script asserts it and prints the largest score
# difference). A reimplementation of the beam search rules in this script
# (reference_beam_search, full forward passes, no cache) must reproduce
# generate's ids and scores exactly; it also measures how far every decision
# (top-k boundary, ordering of candidates, is_done, the final choice) is from
# a tie, printed per case as "margin".
#
# Cases (one source batch, max_new_tokens 12, EOS 1, pad 0, start 0):
# greedy (num_beams 1); beam4 (4 beams, length_penalty 1, early_stopping
# False: both rows run to the maximum, finalize picks among the open beams);
# beam4_lp06 (length_penalty 0.6: row 1 ends with EOS as its 6th generated
# token); beam4_early (early_stopping True: row 1 stops once 4 hypotheses are
# finished, its best one ending with EOS as its 7th token). The script
# prints, per beam case, the float32 difference and the margin (about 9e-3
# here, against float32 errors of about 1e-6 in the scores).
#
# Files (marian_tiny/):
#   spec.json, weights.safetensors   the xfc spec and its weights under xfc's
#                                    names (F32, 64-byte aligned as
#                                    ../make_goldens.py writes them)
#   beam/src_ids.npy                 int32 [2, 7]: the source batch, lengths 7
#                                    and 4, padded with pad id 0
#   beam/src_lengths.npy             int32 [2]
#   beam/<case>_sequences.npy        int32 [2, L]: generate's sequences: the
#                                    decoder start token 0, the generated ids,
#                                    EOS if the hypothesis ended with it, then
#                                    pad 0 up to the longest row
#   beam/<case>_scores.npy           float32 [2]: sequences_scores (beam
#                                    cases only; transformers stores them as
#                                    float32): sum of the log-probabilities of
#                                    the generated tokens (EOS included) /
#                                    generated_len ** length_penalty
#   beam/cases.json                  every case: its files and generate's
#                                    settings
#   beam/tgt_ids.npy                 int32 [2, T]: the greedy sequences
#   beam/forward_logits.npy          float64 [2, T, 48]: the model's logits for
#                                    src_ids/src_lengths and tgt_ids (teacher
#                                    forcing; position t predicts t + 1)
# Running the script again rewrites byte-identical files.
#
#===------------------------------------------------------------------------===#
import argparse
import copy
import json
import math
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import MarianConfig, MarianMTModel

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from make_goldens import sinusoidal, write_safetensors  # noqa: E402

OUT = HERE / "marian_tiny"
WEIGHT_SEED = 3
SOURCE_SEED = 1
SRC_LENGTHS = [7, 4]
MAX_NEW = 12
PAD, EOS, START = 0, 1, 0

CONFIG = dict(
    vocab_size=48, d_model=64, encoder_layers=2, decoder_layers=2,
    encoder_attention_heads=4, decoder_attention_heads=4,
    encoder_ffn_dim=128, decoder_ffn_dim=128, max_position_embeddings=64,
    activation_function="relu", scale_embedding=True,
    share_encoder_decoder_embeddings=True, tie_word_embeddings=True,
    dropout=0.0, attention_dropout=0.0, activation_dropout=0.0,
    pad_token_id=PAD, eos_token_id=EOS, decoder_start_token_id=START,
    forced_eos_token_id=None, bad_words_ids=None)

# (name, num_beams, length_penalty, early_stopping)
CASES = [("greedy", 1, 1.0, False),
         ("beam4", 4, 1.0, False),
         ("beam4_lp06", 4, 0.6, False),
         ("beam4_early", 4, 1.0, True)]

SPEC = {
    "xfc_spec_version": 1, "name": "marian_tiny", "kind": "encoder_decoder",
    "vocab_size": 48, "d_model": 64, "num_heads": 4, "d_ff": 128,
    "num_layers": 2, "num_decoder_layers": 2, "max_seq_len": 64,
    "norm_placement": "post", "layer_norm_epsilon": 1e-5,
    "final_norm": False, "embedding_layer_norm": False,
    "embedding_scale": "sqrt_d_model", "activation": "relu",
    "bias": {"attention_qkv": True, "attention_output": True,
             "ffn_hidden": True, "ffn_output": True, "lm_head": False},
    "lm_head": True, "tied_output_embedding": True,
    "shared_embeddings": True, "key_padding_mask": True,
    "positional_encoding": "sinusoidal", "dtype": "f32",
    "weights": {"source": "safetensors", "path": "weights.safetensors"},
}


def randomize(model):
    """Random weights that make a decoder whose next token depends on the
    position, the previous tokens and the source, with peaked distributions
    and EOS likely enough to end some hypotheses early (see the header)."""
    g = torch.Generator().manual_seed(WEIGHT_SEED)
    last_norm = "model.decoder.layers.1.final_layer_norm"
    with torch.no_grad():
        for name, p in model.named_parameters():
            if "embed_positions" in name:
                continue
            noise = torch.randn(p.shape, generator=g, dtype=torch.float32)
            if name == last_norm + ".weight":
                p.copy_(4.0 * noise)
            elif "layer_norm.weight" in name:
                p.copy_(1.0 + 0.2 * noise)
            elif name.endswith("bias"):
                p.copy_(0.1 * noise)
            elif name == "model.shared.weight":
                p.copy_(0.1 * noise)
            elif "q_proj" in name or "k_proj" in name:
                p.copy_(0.3 * noise)
            elif "decoder" in name and ("encoder_attn.out_proj" in name
                                        or "fc2" in name):
                p.copy_(0.02 * noise)
            elif "decoder" in name and "self_attn.out_proj" in name:
                p.copy_(0.05 * noise)
            else:
                p.copy_(0.2 * noise)
        eos = model.model.shared.weight[EOS]
        model.get_parameter(last_norm + ".bias").add_(3.0 * eos / eos.norm())


def set_positions(model):
    """Replaces Marian's half-split sin/cos table by xfc's interleaved one."""
    n, d = CONFIG["max_position_embeddings"], CONFIG["d_model"]
    table = sinusoidal(n, d).to(model.dtype)
    for stack in (model.model.encoder, model.model.decoder):
        assert not torch.equal(stack.embed_positions.weight, table)
        with torch.no_grad():
            stack.embed_positions.weight.copy_(table)
        added = stack.embed_positions(torch.Size([1, n]))
        assert torch.equal(added, table), "positions not replaced"
        added = stack.embed_positions(torch.Size([1, 3]), 5)
        assert torch.equal(added, table[5:8]), "cached positions differ"


def make_model():
    model = MarianMTModel(MarianConfig(**CONFIG)).eval()
    randomize(model)
    assert torch.count_nonzero(model.final_logits_bias) == 0
    assert model.lm_head.weight is model.model.shared.weight
    assert model.model.encoder.embed_tokens.weight is model.model.shared.weight
    assert model.model.decoder.embed_tokens.weight is model.model.shared.weight
    f64 = copy.deepcopy(model).double()
    assert f64.lm_head.weight is f64.model.shared.weight
    set_positions(model)
    set_positions(f64)
    return model, f64


def xfc_weights(model):
    """Marian's parameters under xfc's names, in docs/spec.md's order."""
    m = model.model
    w = [("encoder.embed.tokens", m.shared.weight)]

    def attn(prefix, a):
        out = []
        for x, hf in (("q", a.q_proj), ("k", a.k_proj), ("v", a.v_proj),
                      ("out", a.out_proj)):
            out += [(f"{prefix}.{x}.weight", hf.weight),
                    (f"{prefix}.{x}.bias", hf.bias)]
        return out

    def ln(prefix, n):
        assert n.eps == 1e-5
        return [(prefix + ".weight", n.weight), (prefix + ".bias", n.bias)]

    for stack_name, stack in (("encoder", m.encoder), ("decoder", m.decoder)):
        for i, layer in enumerate(stack.layers):
            p = f"{stack_name}.layers.{i}"
            w += attn(p + ".self_attn", layer.self_attn)
            w += ln(p + ".self_attn_norm", layer.self_attn_layer_norm)
            if stack_name == "decoder":
                w += attn(p + ".cross_attn", layer.encoder_attn)
                w += ln(p + ".cross_attn_norm", layer.encoder_attn_layer_norm)
            w += [(p + ".ffn.fc1.weight", layer.fc1.weight),
                  (p + ".ffn.fc1.bias", layer.fc1.bias),
                  (p + ".ffn.fc2.weight", layer.fc2.weight),
                  (p + ".ffn.fc2.bias", layer.fc2.bias)]
            w += ln(p + ".ffn_norm", layer.final_layer_norm)
    return w


class DefaultDtype:
    """torch 1.13's torch.full((n, n), finfo(float64).min) without a dtype
    overflows float32: transformers' causal mask of a float64 model needs
    float64 as the default dtype. Every tensor generate makes of its own has
    an explicit dtype (beam scores float32, the log-probs the model's)."""

    def __init__(self, dtype):
        self.dtype = dtype

    def __enter__(self):
        self.saved = torch.get_default_dtype()
        torch.set_default_dtype(self.dtype)

    def __exit__(self, *exc):
        torch.set_default_dtype(self.saved)


def checked_generate(model, src, mask, num_beams, lp, early):
    """generate() with the settings of the goldens; asserts that no logits
    processor runs."""
    seen = []
    original = model._get_logits_processor

    def spy(*args, **kwargs):
        processors = original(*args, **kwargs)
        seen.append(len(processors))
        return processors

    model._get_logits_processor = spy
    try:
        with torch.no_grad(), DefaultDtype(model.dtype):
            result = model.generate(
                input_ids=src, attention_mask=mask, num_beams=num_beams,
                num_return_sequences=1, max_new_tokens=MAX_NEW,
                do_sample=False, use_cache=True, output_scores=True,
                return_dict_in_generate=True, length_penalty=lp,
                early_stopping=early, eos_token_id=EOS, pad_token_id=PAD,
                decoder_start_token_id=START, forced_eos_token_id=None,
                min_length=0, no_repeat_ngram_size=0,
                repetition_penalty=1.0, renormalize_logits=False)
    finally:
        del model._get_logits_processor
    assert seen == [0], f"logits processors ran: {seen}"
    return result


def log_probs(model, src, mask, tgt):
    with torch.no_grad(), DefaultDtype(model.dtype):
        logits = model(input_ids=src, attention_mask=mask,
                       decoder_input_ids=tgt, use_cache=False).logits
    return torch.log_softmax(logits[:, -1, :].double(), dim=-1)


def reference_beam_search(model, src, mask, k, lp, early):
    """The rules of transformers 4.36.2's beam_search + BeamSearchScorer
    (generation/utils.py, generation/beam_search.py) written out, one batch
    item at a time. Returns (ids, score, margin): margin is the smallest
    distance of a compared pair of scores to a tie."""
    max_length = 1 + MAX_NEW
    results = []
    margin = math.inf
    for b in range(src.shape[0]):
        s, m = src[b:b + 1].expand(k, -1), mask[b:b + 1].expand(k, -1)
        beams = [[START] for _ in range(k)]
        sums = [0.0] + [-1e9] * (k - 1)
        hyps = []  # (normalized score, ids without EOS)
        done = False
        while not done and len(beams[0]) < max_length:
            lp_now = log_probs(model, s, m, torch.tensor(beams)).numpy()
            total = (lp_now + np.array(sums)[:, None]).reshape(-1)
            order = np.argsort(-total, kind="stable")[:2 * k]
            top = total[order]
            cur_len = len(beams[0]) + 1
            new_beams, new_sums = [], []
            for rank, flat in enumerate(order):
                beam, token = divmod(int(flat), lp_now.shape[1])
                if token == EOS:
                    if rank >= k:
                        continue
                    score = total[flat] / (cur_len - 1) ** lp
                    hyps.append((score, beams[beam]))
                else:
                    new_beams.append(beams[beam] + [token])
                    new_sums.append(float(total[flat]))
                if len(new_beams) == k:
                    break
            # The candidates read, and the first one not read, must keep
            # their order.
            read = np.sort(total)[::-1][:rank + 2]
            margin = min(margin, float(np.min(read[:-1] - read[1:])))
            hyps.sort(key=lambda h: -h[0])
            if len(hyps) > k:
                margin = min(margin, hyps[k - 1][0] - hyps[k][0])
            hyps = hyps[:k]
            beams, sums = new_beams, new_sums
            if len(hyps) == k:
                if early:
                    done = True
                else:
                    best = top[0] / (cur_len - 1) ** lp
                    # An exact tie is the EOS candidate ranked first just
                    # made the worst kept hypothesis: both sides are the
                    # same expression of the same number, so it is done in
                    # any precision.
                    if hyps[-1][0] != best:
                        margin = min(margin, abs(hyps[-1][0] - best))
                    done = hyps[-1][0] >= best
        if not done:
            for beam, total in zip(beams, sums):
                hyps.append((total / (len(beam) - 1) ** lp, beam))
        hyps.sort(key=lambda h: -h[0])
        if len(hyps) > 1:
            margin = min(margin, hyps[0][0] - hyps[1][0])
        score, ids = hyps[0]
        if len(ids) < max_length:
            ids = ids + [EOS]
        results.append((ids, score))
    return results, margin


def check_with_xfc(binary, src, lengths, tgt, expected):
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        art = tmp / "artifact"
        subprocess.run([binary, "compile", str(OUT / "spec.json"), "-o",
                        str(art), "--batch", str(src.shape[0]), "--seq-len",
                        str(src.shape[1]), "--tgt-len", str(tgt.shape[1]),
                        "--force"], check=True)
        for name, value in (("src_ids", src), ("tgt_ids", tgt),
                            ("src_lengths", lengths)):
            np.save(tmp / f"{name}.npy", value)
        subprocess.run([binary, "run", str(art), "--threads", "1",
                        "--input", f"src_ids={tmp / 'src_ids.npy'}",
                        "--input", f"tgt_ids={tmp / 'tgt_ids.npy'}",
                        "--input", f"src_lengths={tmp / 'src_lengths.npy'}",
                        "--output", f"logits={tmp / 'logits.npy'}"],
                       check=True)
        got = np.load(tmp / "logits.npy")
    err = float(np.max(np.abs(got.astype(np.float64) - expected)))
    print(f"xfc logits vs transformers (float64): max abs error {err:.3g}")
    assert err < 1e-3, err


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--xfc", help="xfc binary: also check its logits")
    args = parser.parse_args()
    torch.set_num_threads(1)
    print(f"torch {torch.__version__}, transformers {transformers.__version__}"
          f", numpy {np.__version__}")
    model32, model = make_model()

    OUT.mkdir(exist_ok=True)
    out = OUT / "beam"
    out.mkdir(exist_ok=True)
    with open(OUT / "spec.json", "w") as f:
        json.dump(SPEC, f, indent=2)
        f.write("\n")
    write_safetensors(OUT / "weights.safetensors", xfc_weights(model32))

    g = torch.Generator().manual_seed(SOURCE_SEED)
    width = max(SRC_LENGTHS)
    src = torch.randint(2, CONFIG["vocab_size"], (len(SRC_LENGTHS), width),
                        generator=g)
    mask = torch.zeros_like(src)
    for b, n in enumerate(SRC_LENGTHS):
        mask[b, :n] = 1
    src = src * mask + PAD * (1 - mask)
    np.save(out / "src_ids.npy", src.numpy().astype(np.int32))
    np.save(out / "src_lengths.npy", np.array(SRC_LENGTHS, dtype=np.int32))

    cases = []
    greedy = None
    early_eos = False
    for name, k, lp, early in CASES:
        result = checked_generate(model, src, mask, k, lp, early)
        result32 = checked_generate(model32, src, mask, k, lp, early)
        ids = result.sequences
        assert torch.equal(ids, result32.sequences), (ids, result32.sequences)
        # Step 0 of every batch item: the processed scores are log_softmax.
        # (greedy search records the logits, beam search the log-probs).
        first = log_probs(model, src, mask, torch.full((2, 1), START))
        step0 = result.scores[0][::k]
        if k == 1:
            step0 = torch.log_softmax(step0, dim=-1)
        assert torch.allclose(step0, first, atol=1e-12, rtol=0)
        entry = {"name": name, "sequences": f"{name}_sequences.npy",
                 "num_beams": k, "max_new_tokens": MAX_NEW,
                 "length_penalty": lp, "early_stopping": early,
                 "eos_token_id": EOS, "decoder_start_token_id": START,
                 "pad_token_id": PAD}
        np.save(out / entry["sequences"], ids.numpy().astype(np.int32))
        line = f"{name}: ids {ids.tolist()}"
        if k > 1:
            scores = result.sequences_scores
            assert scores.dtype == torch.float32
            diff = float((scores.double() - result32.sequences_scores.double())
                         .abs().max())
            ref, margin = reference_beam_search(model, src, mask, k, lp, early)
            for b, (ref_ids, ref_score) in enumerate(ref):
                row = ids[b].tolist()
                assert row[:len(ref_ids)] == ref_ids, (row, ref_ids)
                assert all(t == PAD for t in row[len(ref_ids):]), row
                assert np.float32(ref_score) == scores[b].item(), (
                    ref_score, scores[b].item())
                early_eos |= EOS in ref_ids and len(ref_ids) < 1 + MAX_NEW
            entry["sequences_scores"] = f"{name}_scores.npy"
            np.save(out / entry["sequences_scores"], scores.numpy())
            line += (f", scores {scores.tolist()}, float32 run differs by "
                     f"{diff:.3g}, margin {margin:.4g}")
        else:
            greedy = ids
            gap = min(float((torch.topk(s, 2).values[:, 0]
                             - torch.topk(s, 2).values[:, 1]).min())
                      for s in result.scores)
            line += f", smallest top-2 gap {gap:.4g}"
        print(line)
        cases.append(entry)
    assert early_eos, "no beam hypothesis ends with EOS before the maximum"
    with open(out / "cases.json", "w") as f:
        json.dump({"src_ids": "src_ids.npy", "src_lengths": "src_lengths.npy",
                   "cases": cases}, f, indent=2)
        f.write("\n")

    with torch.no_grad(), DefaultDtype(model.dtype):
        logits = model(input_ids=src, attention_mask=mask,
                       decoder_input_ids=greedy, use_cache=False).logits
    np.save(out / "tgt_ids.npy", greedy.numpy().astype(np.int32))
    np.save(out / "forward_logits.npy", logits.numpy())
    if args.xfc:
        check_with_xfc(args.xfc, src.numpy().astype(np.int32),
                       np.array(SRC_LENGTHS, dtype=np.int32),
                       greedy.numpy().astype(np.int32), logits.numpy())
    return 0


if __name__ == "__main__":
    sys.exit(main())
