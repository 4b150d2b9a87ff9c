#!/usr/bin/python3
"""Checks of the benchmark harness's bookkeeping (no timing): the records
bench/run.py makes from xfc-gemm-bench's JSON, the target checks and the
roofline flag of bench/report.py, and the files write_all produces.
Run by ctest (test `bench_report`) with Debian's python3, standard library
only (plots are skipped, with a recorded reason, where matplotlib is not
installed)."""
import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import report  # noqa: E402
import run  # noqa: E402


def gemm_json(xfc_gflops, blas_gflops):
    side = {"gflops": blas_gflops, "median_ms": 1.0, "min_ms": 1.0,
            "runs": 20, "threads": 1, "max_abs_diff_vs_xfc": 1e-6}
    return {"openblas_config": "OpenBLAS test", "openblas_corename": "Zen",
            "all_threads": 2,
            "results": [{"m": 128, "n": 768, "k": 768, "threads": 1,
                         "all_threads": False,
                         "xfc": {"gflops": xfc_gflops, "median_ms": 2.0,
                                 "min_ms": 2.0, "runs": 20, "threads": 1,
                                 "weight_layout": "[K,N]",
                                 "weight_transform": "transpose",
                                 "compile_seconds": 0.3},
                         "openblas_b_nk": side,
                         "openblas_b_kn": dict(side, gflops=blas_gflops / 2)}]}


def e2e_record(xfc_ms, ort_ms, torch_ms, roofline_ms):
    return {"name": "e2e/bert-base/seq128", "unit": "ms", "xfc": xfc_ms,
            "peers": {"onnxruntime": ort_ms, "pytorch": torch_ms},
            "threads": {"xfc": 1, "onnxruntime": 2, "pytorch": 1},
            "all_measurements": {"xfc": [{"threads": 1,
                                          "median_ms": xfc_ms}]},
            "flops": 22.3e9, "roofline_ms": roofline_ms, "runs": 15,
            "rounds": 3,
            "roofline_gflops": 22.3e9 / (roofline_ms * 1e6),
            "max_abs_diff_vs_pytorch_reference": {"xfc": 1e-5}}


def doc_with(records):
    return {"machine": "test cpu", "date": "2026-01-02 03:04 UTC",
            "machine_details": {"memory_bytes": 2**30, "kernel": "6",
                                "load_average_at_start": [0.1, 0, 0],
                                "load_average_at_end": [0.2, 0, 0]},
            "command": "bench/run.py", "versions": {"xfc": "abc"},
            "thread_policy": "test", "skipped": [], "records": records}


def targets(doc):
    return {t: ok for t, _, ok, _ in report.check_targets(doc)}


class GemmRecords(unittest.TestCase):
    def test_names_units_and_peers(self):
        (r,) = run.gemm_records(gemm_json(60.0, 70.0))
        self.assertEqual(r["name"], "gemm/M=128,N=768,K=768/threads=1")
        self.assertEqual(r["unit"], "GFLOPS")
        self.assertEqual(r["xfc"], 60.0)
        self.assertEqual(r["peers"], {"openblas": 70.0,
                                      "openblas_b_kn": 35.0})
        self.assertIn("no packing at run time", r["xfc_kind"])

    def test_packed_weight_makes_a_prepacked_record(self):
        doc = gemm_json(60.0, 70.0)
        doc["results"][0]["xfc"]["weight_transform"] = "pack_panels_16"
        (r,) = run.gemm_records(doc)
        self.assertEqual(r["name"],
                         "gemm/M=128,N=768,K=768/threads=1/prepacked")
        self.assertIn("pre-packed", r["xfc_kind"])

    def test_target_against_the_faster_layout(self):
        doc = doc_with(run.gemm_records(gemm_json(60.0, 70.0)))
        self.assertEqual(list(targets(doc).values()), [False])  # 0.86x
        doc = doc_with(run.gemm_records(gemm_json(64.0, 70.0)))
        self.assertEqual(list(targets(doc).values()), [True])   # 0.91x


class EndToEndTargets(unittest.TestCase):
    def test_all_met(self):
        t = targets(doc_with([e2e_record(180.0, 200.0, 240.0, 160.0)]))
        self.assertTrue(all(t.values()), t)

    def test_each_bound(self):
        t = targets(doc_with([e2e_record(210.0, 200.0, 240.0, 160.0)]))
        self.assertFalse(t["e2e/bert-base/seq128 ≤ 1.0× onnxruntime"])
        self.assertFalse(t["e2e/bert-base/seq128 ≤ 0.8× pytorch"])
        self.assertFalse(t["e2e/bert-base/seq128 ≤ 1.2× roofline"])

    def test_faster_than_roofline_is_flagged_for_any_peer(self):
        checks = report.check_targets(
            doc_with([e2e_record(180.0, 150.0, 240.0, 160.0)]))
        flagged = [(t, why) for t, _, ok, why in checks
                   if not ok and "roofline" in t]
        self.assertEqual(len(flagged), 1, checks)
        self.assertIn("onnxruntime", flagged[0][0])
        self.assertIn("bug", flagged[0][1])


class OtherTargets(unittest.TestCase):
    def test_memory_and_compile(self):
        doc = doc_with([
            {"name": "memory/bert-base/seq128", "unit": "bytes",
             "xfc": 120, "peers": {"lower_bound": 100, "naive": 400}},
            {"name": "compile/bert-base", "unit": "s", "xfc": 31.0,
             "peers": {}}])
        t = targets(doc)
        self.assertFalse(t["memory/bert-base/seq128 ≤ 1.1× lower bound"])
        self.assertFalse(t["compile/bert-base ≤ 30 s"])


class Files(unittest.TestCase):
    def test_write_all(self):
        doc = doc_with(run.gemm_records(gemm_json(30.0, 70.0)) +
                       [e2e_record(900.0, 200.0, 240.0, 160.0)])
        with tempfile.TemporaryDirectory() as d:
            results = os.path.join(d, "results.json")
            path = report.write_all(doc, results, os.path.join(d, "reports"),
                                    {})
            with open(results) as f:
                written = json.load(f)
            self.assertEqual(written["machine"], "test cpu")
            self.assertEqual(len(written["records"]), 2)
            for r in written["records"]:
                self.assertEqual(set(r) >= {"name", "unit", "xfc", "peers"},
                                 True)
            with open(path) as f:
                text = f.read()
            self.assertIn("What limits the missed targets", text)
            self.assertIn("roofline 160.0 ms", text)
            # No temporary file is left behind.
            leftovers = [n for n in os.listdir(os.path.join(d, "reports"))
                         if n.startswith(".tmp-")]
            self.assertEqual(leftovers, [])
            try:
                import matplotlib  # noqa: F401
                self.assertEqual(len(written["plots"]), 2)
            except ImportError:
                self.assertTrue(any("matplotlib" in s
                                    for s in written["skipped"]))


if __name__ == "__main__":
    unittest.main()
