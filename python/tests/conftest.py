"""Fixtures of the Python package's tests: the golden BERT-like model of
tests/e2e/golden compiled by the xfc under test (XFC_EXECUTABLE and
XFC_RUNTIME_LIBRARY, set by ctest, name the build's)."""

import os

import numpy as np
import pytest

import xfc

SOURCE_DIR = os.environ.get(
    "XFC_SOURCE_DIR", os.path.join(os.path.dirname(__file__), "..", ".."))
GOLDEN = os.path.join(SOURCE_DIR, "tests", "e2e", "golden", "bert_like")
INPUT_NAMES = ("input_ids", "token_type_ids", "lengths")


def golden_inputs(shape_case):
    folder = os.path.join(GOLDEN, shape_case)
    return {name: np.load(os.path.join(folder, name + ".npy")) for name in INPUT_NAMES}


def golden_expected(shape_case):
    return np.load(os.path.join(GOLDEN, shape_case, "expected.npy"))


@pytest.fixture(scope="session")
def bert_s7(tmp_path_factory):
    """The golden model compiled for its s7 inputs (batch 2, 7 tokens)."""
    out = tmp_path_factory.mktemp("artifacts") / "bert_s7"
    xfc.compile(os.path.join(GOLDEN, "spec.json"), out, batch=2, seq_len=7)
    return str(out)
