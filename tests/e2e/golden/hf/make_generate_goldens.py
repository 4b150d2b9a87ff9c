#!/usr/bin/env python3
#===- make_generate_goldens.py - Greedy ids of transformers' generate -----===#
#
# Part of xfc. Greedy decoding of the committed random GPT-2 checkpoint
# gpt2_tiny (written by make_hf_goldens.py) with transformers' own
# `generate` (the key/value cache on, do_sample=False), for
# tests/e2e/GenerateTest.cpp, which compiles the checkpoint with
# `--generate` and must produce the same ids through xfc_generator_*.
#
# The model runs in float64, so the golden ids are those of the exact
# model; the script prints, for every case, the smallest gap between the
# two largest logits over all steps: xfc in float32 differs from float64 by
# far less (about 1e-5 here), so no tie can flip an argmax.
#
# Versions: as make_hf_goldens.py (Python 3.11, torch 1.13, transformers
# 4.36.2, numpy 1.24):
#
#   /tmp/hfvenv/bin/python tests/e2e/golden/hf/make_generate_goldens.py
#
# Writes gpt2_tiny/generate/prompt_s<P>.npy (int32 [2, P]) and
# gpt2_tiny/generate/greedy_s<P>.npy (int32 [2, P + N]: the prompt, then
# the N generated tokens).
#
#===------------------------------------------------------------------------===#
import sys
from pathlib import Path

import numpy as np
import torch
import transformers
from transformers import GPT2LMHeadModel

HERE = Path(__file__).resolve().parent
CASES = [(1, 24), (7, 20)]  # (prompt length, new tokens); n_positions 32


def main():
    print(f"torch {torch.__version__}, transformers {transformers.__version__}")
    torch.set_num_threads(1)
    model = GPT2LMHeadModel.from_pretrained(HERE / "gpt2_tiny").double().eval()
    out = HERE / "gpt2_tiny" / "generate"
    out.mkdir(exist_ok=True)
    g = torch.Generator().manual_seed(11)
    for length, new in CASES:
        prompt = torch.randint(0, model.config.vocab_size, (2, length),
                               generator=g)
        with torch.no_grad():
            result = model.generate(prompt, attention_mask=torch.ones_like(prompt),
                                    max_new_tokens=new, do_sample=False,
                                    num_beams=1, use_cache=True,
                                    pad_token_id=0, output_scores=True,
                                    return_dict_in_generate=True)
        ids = result.sequences
        gaps = []
        for scores in result.scores:
            top = torch.topk(scores, 2, dim=-1).values
            gaps.append(float((top[:, 0] - top[:, 1]).min()))
        assert ids.shape == (2, length + new), ids.shape
        np.save(out / f"prompt_s{length}.npy", prompt.numpy().astype(np.int32))
        np.save(out / f"greedy_s{length}.npy", ids.numpy().astype(np.int32))
        print(f"prompt {length}, {new} new tokens: smallest top-2 logit gap "
              f"{min(gaps):.4g}")


if __name__ == "__main__":
    sys.exit(main())
