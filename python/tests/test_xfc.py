"""The xfc Python package against the PyTorch goldens and the runtime's
own checks: compile, load, run, errors as exceptions, the GIL released
while a model runs, and contexts used from many threads."""

import json
import os
import threading
import time

import numpy as np
import pytest

import xfc
from conftest import GOLDEN, golden_expected, golden_inputs

# As the end-to-end goldens (tests/e2e/EndToEndTest.cpp): float32 against
# PyTorch's float32 model.
TOLERANCE = 1e-4


def test_run_matches_the_pytorch_golden(bert_s7):
    model = xfc.Model(bert_s7)
    assert [i.name for i in model.inputs] == ["input_ids", "token_type_ids", "lengths"]
    assert model.outputs[0].shape == (2, 7, 128)
    assert model.inputs[0].range is not None
    with model.context(threads=1) as context:
        outputs = context.run(**golden_inputs("s7"))
        again = context.run(*golden_inputs("s7").values())
    hidden = outputs["hidden_states"]
    assert hidden.dtype == np.float32
    assert np.abs(hidden - golden_expected("s7")).max() <= TOLERANCE
    # In order or by name: the same inputs, the same bits.
    assert np.array_equal(again["hidden_states"], hidden)
    model.verify()
    assert any(kernel.kind.startswith("attention") for kernel in model.kernels)
    model.close()


def test_profiles_count_every_kernel(bert_s7):
    model = xfc.Model(bert_s7)
    with model.context(threads=1, profiling=True) as context:
        for _ in range(3):
            context.run(**golden_inputs("s7"))
        profile = context.profile()
        assert profile.runs == 3 and profile.wall_ns > 0
        assert len(profile.kernels) == len(model.kernels)
        assert all(k.calls == 3 and k.total_ns > 0 for k in profile.kernels)
        assert 0 < profile.kernel_ns <= profile.wall_ns
    with model.context() as context:
        with pytest.raises(xfc.XfcError) as off:
            context.profile()
    assert "profiling is off" in str(off.value)
    model.close()


def test_integer_inputs_are_converted_only_when_exact(bert_s7):
    model = xfc.Model(bert_s7)
    inputs = {k: v.astype(np.int64) for k, v in golden_inputs("s7").items()}
    expected = model.run(**golden_inputs("s7"))["hidden_states"]
    assert np.array_equal(model.run(**inputs)["hidden_states"], expected)
    inputs["input_ids"][0, 0] = 2**40
    with pytest.raises(xfc.XfcError) as error:
        model.run(**inputs)
    assert error.value.code == "INVALID_ARGUMENT"
    assert "input 'input_ids': expected int32 values, found int64 values that do not fit" in str(error.value)


def test_input_errors_carry_the_message(bert_s7):
    model = xfc.Model(bert_s7)
    inputs = golden_inputs("s7")
    with pytest.raises(xfc.XfcError, match=r"input 'lengths': expected shape \(2,\), found \(3,\)"):
        model.run(**dict(inputs, lengths=np.array([7, 7, 7], np.int32)))
    with pytest.raises(xfc.XfcError, match="unknown input 'ids'; the model's inputs are input_ids, token_type_ids, lengths"):
        model.run(ids=inputs["input_ids"])
    with pytest.raises(xfc.XfcError, match="input 'lengths' is missing"):
        model.run(input_ids=inputs["input_ids"], token_type_ids=inputs["token_type_ids"])
    with pytest.raises(xfc.XfcError, match=r"expected 3 inputs \(input_ids, token_type_ids, lengths\), found 1"):
        model.run(inputs["input_ids"])
    # The runtime's own check of token ids, raised with its message.
    bad = dict(inputs, input_ids=inputs["input_ids"].copy())
    bad["input_ids"][1, 3] = model.inputs[0].range[1] + 1
    with pytest.raises(xfc.XfcError) as error:
        model.run(**bad)
    assert error.value.code == "INVALID_ARGUMENT"
    low, high = model.inputs[0].range
    assert error.value.message == (
        "xfc_context_run: input 'input_ids' element 10 (flat index) is %d, "
        "outside the allowed range [%d, %d]" % (high + 1, low, high))
    with pytest.raises(xfc.XfcError, match="has no segment memory"):
        model.context().get_memory(0)


def test_open_errors(tmp_path):
    with pytest.raises(xfc.XfcError) as error:
        xfc.Model(str(tmp_path / "missing"))
    assert error.value.code == "NOT_FOUND"
    assert str(tmp_path / "missing") in error.value.message
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "manifest.json").write_text("{")
    with pytest.raises(xfc.XfcError) as error:
        xfc.Model(str(tmp_path / "broken"))
    assert error.value.code == "INVALID_ARTIFACT"
    assert "manifest.json" in error.value.message


def test_compile_errors_leave_nothing_behind(tmp_path):
    spec = tmp_path / "spec.json"
    spec.write_text('{"model": {"d_model": "wide"}}')
    out = tmp_path / "out"
    with pytest.raises(xfc.XfcError) as error:
        xfc.compile(spec, out)
    assert error.value.code == "COMPILE_ERROR"
    assert "spec.json" in error.value.message
    assert not out.exists()
    # An existing artifact is not replaced without force.
    out.mkdir()
    (out / "keep").write_text("mine")
    with pytest.raises(xfc.XfcError, match="exists"):
        xfc.compile(os.path.join(GOLDEN, "spec.json"), out, batch=2, seq_len=7)
    assert (out / "keep").read_text() == "mine"


def test_closed_objects_refuse_work(bert_s7):
    model = xfc.Model(bert_s7)
    context = model.context()
    with pytest.raises(xfc.XfcError, match="close the model's contexts before the model"):
        model.close()
    context.close()
    with pytest.raises(xfc.XfcError, match="the context is closed"):
        context.run(**golden_inputs("s7"))
    model.close()
    with pytest.raises(xfc.XfcError, match="the model is closed"):
        model.context()


def test_the_gil_is_released_while_a_model_runs(tmp_path):
    # One run of about 0.1 s on one thread; while it is in the C call,
    # another Python thread must keep running.
    artifact = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "big", batch=24, seq_len=128)
    model = xfc.Model(artifact)
    inputs = {info.name: np.zeros(info.shape, np.int32) for info in model.inputs}
    inputs["lengths"][:] = 128
    context = model.context(threads=1)
    context.run(**inputs)  # Warm-up: page in the code and weights.
    window = []
    stop = threading.Event()

    def run():
        start = time.perf_counter()
        context.run(**inputs)
        window.extend([start, time.perf_counter()])
        stop.set()

    ticks = []
    worker = threading.Thread(target=run)
    worker.start()
    while not stop.is_set():
        ticks.append(time.perf_counter())
    worker.join()
    start, end = window
    assert end - start > 0.02, "the run is too short to tell (%.3f s)" % (end - start)
    # The middle of the call, away from the moments the GIL changes hands.
    inside = [t for t in ticks if start + 0.3 * (end - start) < t < end - 0.3 * (end - start)]
    assert inside, "no Python thread ran during the %.3f s call" % (end - start)


def test_threads_with_their_own_contexts_match_serial_runs(bert_s7):
    model = xfc.Model(bert_s7)
    inputs = golden_inputs("s7")
    serial = model.context(threads=1).run(**inputs)["hidden_states"]
    results, errors = [], []

    def work():
        try:
            with model.context(threads=1) as context:
                for _ in range(20):
                    results.append(context.run(**inputs)["hidden_states"])
        except Exception as error:  # Reported below, not lost in the thread.
            errors.append(error)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert len(results) == 80
    assert all(np.array_equal(result, serial) for result in results)


def test_buckets_take_any_length_up_to_the_largest(bert_s7, tmp_path):
    """An artifact with buckets (xfc compile --buckets) runs inputs of any
    length up to its largest bucket, padded to the smallest that holds
    them: the outputs of the given length, as the artifact compiled at
    exactly that length gives them (within 1e-5, as
    tests/e2e/BucketTest.cpp allows: the kernels group their sums
    differently for another length) and as PyTorch does."""
    out = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "buckets",
                      batch=2, buckets=[4, 8])
    model = xfc.Model(out)
    assert model.buckets == [(2, 4, 4), (2, 8, 8)]
    assert model.inputs[0].shape == (2, 8)
    with model.context(threads=1) as context:
        seven = context.run(**golden_inputs("s7"))["hidden_states"]
        one = context.run(**golden_inputs("s1"))["hidden_states"]
    assert seven.shape == (2, 7, 128) and one.shape == (2, 1, 128)
    exact = xfc.Model(bert_s7).run(**golden_inputs("s7"))["hidden_states"]
    assert np.abs(seven - exact).max() <= 1e-5
    assert np.abs(one - golden_expected("s1")).max() <= TOLERANCE
    # One batch item of two: the bucket's batch is padded.
    first = {name: value[:1] for name, value in golden_inputs("s7").items()}
    assert np.array_equal(model.run(**first)["hidden_states"], seven[:1])
    with pytest.raises(xfc.XfcError, match=r"no bucket of model 'bert_like' holds batch 2, seq_len 77; its buckets \(BxS\) are 2x4, 2x8"):
        model.run(**golden_inputs("s77"))


MARIAN = os.path.join(os.path.dirname(GOLDEN), "hf", "marian_tiny")


def test_beam_search_matches_transformers_generate(tmp_path):
    """Beam search through xfc.Generator on the random Marian model of
    tests/e2e/golden/hf (make_beam_goldens.py): the ids and scores of
    transformers' generate(num_beams=4), as
    tests/e2e/Seq2SeqGenerateTest.cpp checks them through the C API."""
    out = xfc.compile(os.path.join(MARIAN, "spec.json"), tmp_path / "marian",
                      batch=8, seq_len=7, tgt_len=1, generate=12)
    beam = os.path.join(MARIAN, "beam")
    src = np.load(os.path.join(beam, "src_ids.npy"))
    lengths = np.load(os.path.join(beam, "src_lengths.npy"))
    expected = np.load(os.path.join(beam, "beam4_lp06_sequences.npy"))
    expected_scores = np.load(os.path.join(beam, "beam4_lp06_scores.npy"))
    with xfc.Generator(out, threads=1) as generator:
        assert generator.source_length == 7 and generator.batch == 8
        answers = generator.beam_search(src, num_beams=4, max_new_tokens=12, start_id=0, eos_id=1,
                                        length_penalty=0.6, src_lengths=lengths)
        assert len(answers) == 2
        for n, answer in enumerate(answers):
            want = list(expected[n, 1:])
            if 1 in want:  # Up to and including the end token.
                want = want[:want.index(1) + 1]
            assert answer.ids.tolist() == want
            assert abs(answer.score - expected_scores[n]) <= 1e-4
        with pytest.raises(xfc.XfcError, match="src has 3 sources; with 4 beams the batch of 8 holds 2"):
            generator.beam_search(np.zeros((3, 7), np.int32), num_beams=4)
        # Step by step: the logits of a prefill and a decode step.
        logits = generator.prefill(np.zeros((8, 1), np.int32), src=np.repeat(src, 4, axis=0),
                                   src_lengths=np.repeat(lengths, 4))
        assert logits.shape == (8, 48) and generator.length == 1
        generator.reorder([1, 0, 2, 3, 4, 5, 6, 7])
        step = generator.decode(logits.argmax(axis=1))
        assert step.shape == (8, 48) and np.isfinite(step).all() and generator.length == 2
        with pytest.raises(xfc.XfcError, match="the model is an encoder-decoder; give the source"):
            generator.prefill(np.zeros((8, 1), np.int32))


def test_gpu_models_open_on_the_device_they_are_given(tmp_path, monkeypatch):
    """A model compiled with --target=cuda, over the stand-in libcuda
    (XFC_FAKE_CUDA names it): it opens on GPU 0 and reaches the first
    launch, replayed from a CUDA graph or not, which that driver cannot
    run; a GPU the machine lacks is
    refused. The numerics are tests/e2e/GpuGoldenTest.cpp's."""
    fake = os.environ.get("XFC_FAKE_CUDA")
    if not fake:
        pytest.skip("XFC_FAKE_CUDA does not name the stand-in libcuda")
    monkeypatch.setenv("XFC_LIBCUDA", fake)
    out = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "gpu",
                      batch=2, seq_len=7, target="cuda", gpu_arch="sm_80")
    with pytest.raises(xfc.XfcError) as missing:
        xfc.Model(out, gpu_device=3)
    assert "GPU 3 does not exist (this machine has 1)" in str(missing.value)
    # Without its GPU it opens for checks, and does not run.
    with xfc.Model(out, skip_device=True) as unopened:
        assert unopened.device == "cuda (not opened: skip_device)"
        with pytest.raises(xfc.XfcError) as refused:
            unopened.context()
        assert "opened without its GPU" in str(refused.value)
    model = xfc.Model(out)
    assert model.device == "cuda:0"
    # By default a context records the launches into a CUDA graph, and
    # each run replays it; the stand-in cannot run the graph's kernels.
    with model.context() as ctx:
        assert ctx.gpu_graph_launches > 0
        with pytest.raises(xfc.XfcError) as replay:
            ctx.run(**golden_inputs("s7"))
    assert "cuGraphLaunch failed: CUDA_ERROR_NOT_SUPPORTED" in str(replay.value)
    with model.context(gpu_graph=False) as ctx:
        assert ctx.gpu_graph_launches == 0
        with pytest.raises(xfc.XfcError) as launch:
            ctx.run(**golden_inputs("s7"))
    assert "cuLaunchKernel failed: CUDA_ERROR_NOT_SUPPORTED" in str(launch.value)
    # Profiled: each launch between two events, which the stand-in puts
    # XFC_FAKE_CUDA_EVENT_MS apart; its launch log lets the launches pass.
    monkeypatch.setenv("XFC_FAKE_CUDA_LAUNCH_LOG", str(tmp_path / "launches.log"))
    monkeypatch.setenv("XFC_FAKE_CUDA_EVENT_MS", "0.5")
    with model.context(profiling=True) as ctx:
        assert ctx.gpu_graph_launches == 0
        ctx.run(**golden_inputs("s7"))
        ctx.run(**golden_inputs("s7"))
        profile = ctx.profile()
        assert profile.runs == 2
        assert [k.kernel.name for k in profile.kernels] == [k.name for k in model.kernels]
        assert all(k.calls == 2 and k.total_ns >= 1e6 for k in profile.kernels)
        ctx.reset_profile()
        assert ctx.profile().runs == 0
    monkeypatch.delenv("XFC_FAKE_CUDA_LAUNCH_LOG")
    model.close()
    # bf16 GEMMs: their weights stored in bf16, uploaded as they are.
    half = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "bf16",
                       batch=2, seq_len=7, target="cuda", gpu_arch="sm_80",
                       dtype="bf16")
    with open(os.path.join(half, "manifest.json")) as f:
        dtypes = {w["dtype"] for w in json.load(f)["weights"]}
    assert dtypes == {"f32", "bf16"}
    model = xfc.Model(half)
    assert model.device == "cuda:0"
    model.close()
    # The Q, K, V projections kept f32: the manifest's pipeline says so.
    wide = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "bf16wide",
                       batch=2, seq_len=7, target="cuda", gpu_arch="sm_80",
                       dtype="bf16", half_qkv=False)
    with open(os.path.join(wide, "manifest.json")) as f:
        assert json.load(f)["compile_options"]["pipeline"].endswith(
            "dtype bf16, Q, K, V in f32")
    # The FFN's hidden layer kept f32 too.
    wider = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "bf16wider",
                        batch=2, seq_len=7, target="cuda", gpu_arch="sm_80",
                        dtype="bf16", half_qkv=False, half_ffn=False)
    with open(os.path.join(wider, "manifest.json")) as f:
        assert json.load(f)["compile_options"]["pipeline"].endswith(
            "dtype bf16, Q, K, V in f32, FFN hidden in f32")
    # The norms' outputs kept f32 too (no norm of this post-LN model writes
    # f16, but the choice is recorded).
    widest = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "bf16widest",
                         batch=2, seq_len=7, target="cuda", gpu_arch="sm_80",
                         dtype="bf16", half_qkv=False, half_ffn=False,
                         half_norm=False)
    with open(os.path.join(widest, "manifest.json")) as f:
        assert json.load(f)["compile_options"]["pipeline"].endswith(
            "Q, K, V in f32, FFN hidden in f32, norms' outputs in f32")
    # 128 query rows a block in the flash attention kernel, asked for.
    rows = xfc.compile(os.path.join(GOLDEN, "spec.json"), tmp_path / "rows128",
                       batch=2, seq_len=7, target="cuda", gpu_arch="sm_80",
                       dtype="bf16", attention_rows=128)
    with open(os.path.join(rows, "manifest.json")) as f:
        assert json.load(f)["compile_options"]["pipeline"].endswith(
            "dtype bf16, attention 128 query rows a block")
