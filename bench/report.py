"""The results of bench/run.py as bench/results.json, a markdown report and
its plots, and the summary table printed at the end of a run.

Targets (from the benchmark issue) are checked here, and for each one
missed the report says what limits it, with roofline numbers: the roofline
of an end-to-end run is its matmul FLOPs at the best OpenBLAS GFLOPS of the
same run, and a figure below it is flagged as a bug to find, not a win.
"""
import json
import os
import tempfile

GEMM_MIN, GEMM_GOAL = 0.9, 1.0          # xfc GFLOPS / OpenBLAS GFLOPS
ORT_MAX, ORT_GOAL = 1.0, 0.9            # xfc ms / ONNX Runtime ms
TORCH_MAX = 0.8                         # xfc ms / PyTorch ms
ROOFLINE_MAX = 1.2                      # xfc ms / roofline ms
ARENA_MAX = 1.1                         # arena / lower bound
COMPILE_MAX_S = 30.0                    # BERT-base compile seconds


def atomic_write(path, data, mode="w"):
    """Writes `data` to `path` through a temporary file in the same folder,
    so an interrupted run never leaves a half-written file behind."""
    folder = os.path.dirname(os.path.abspath(path))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-")
    try:
        with os.fdopen(fd, mode) as f:
            f.write(data)
        # mkstemp creates the file 0600; give it the usual permissions.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def fmt(v, digits=1):
    if v is None:
        return "–"
    if isinstance(v, float):
        return f"{v:.{digits}f}"
    return str(v)


def gemm_rows(doc):
    rows = []
    for r in doc["records"]:
        if not r["name"].startswith("gemm/"):
            continue
        best = max(r["peers"].values())
        rows.append((r, best, r["xfc"] / best))
    return rows


def e2e_rows(doc):
    return [r for r in doc["records"] if r["name"].startswith("e2e/")]


def check_targets(doc):
    """[(target, measured, ok, limit text or "")]."""
    out = []
    gemm = gemm_rows(doc)
    single = [r["xfc"] for r, _, _ in gemm if r["name"].endswith("=1")]
    xfc_gemm_1t = sum(single) / len(single) if single else None
    for r, best, ratio in gemm:
        why = "gemm" if ratio < GEMM_MIN else ""
        out.append((f"{r['name']} ≥ {GEMM_MIN}× OpenBLAS",
                    f"{ratio:.2f}×", ratio >= GEMM_MIN, why))
    for r in e2e_rows(doc):
        ms, roof = r["xfc"], r.get("roofline_ms")
        eff = r["flops"] / (ms * 1e6)
        limit = ""
        if roof:
            limit = (f"roofline {roof:.1f} ms ({r['flops'] / 1e9:.1f} GFLOP "
                     f"at {r['roofline_gflops']:.1f} GFLOPS, the best "
                     f"OpenBLAS rate of this run); xfc runs at "
                     f"{eff:.1f} GFLOPS, {ms / roof:.1f}× the roofline")
            if xfc_gemm_1t:
                gemm_ms = r["flops"] / (xfc_gemm_1t * 1e6)
                limit += (f"; at xfc's own single-thread GEMM rate "
                          f"({xfc_gemm_1t:.1f} GFLOPS, mean of the GEMM "
                          f"records) the matmuls alone take {gemm_ms:.0f} "
                          f"ms, {gemm_ms / ms * 100:.0f}% of its time, so "
                          f"the matmul kernels are the limit"
                          if gemm_ms / ms > 0.6 else
                          f"; at xfc's own single-thread GEMM rate "
                          f"({xfc_gemm_1t:.1f} GFLOPS) the matmuls would "
                          f"take {gemm_ms:.0f} ms, only "
                          f"{gemm_ms / ms * 100:.0f}% of its time: the rest "
                          f"is outside the linears (attention, "
                          f"element-wise ops, memory traffic)")
        for peer, bound in (("onnxruntime", ORT_MAX), ("pytorch", TORCH_MAX)):
            if peer in r["peers"]:
                ratio = ms / r["peers"][peer]
                out.append((f"{r['name']} ≤ {bound}× {peer}",
                            f"{ratio:.2f}× ({ms:.1f} vs "
                            f"{r['peers'][peer]:.1f} ms)",
                            ratio <= bound, limit if ratio > bound else ""))
        if roof:
            out.append((f"{r['name']} ≤ {ROOFLINE_MAX}× roofline",
                        f"{ms / roof:.2f}× ({ms:.1f} vs {roof:.1f} ms)",
                        ms / roof <= ROOFLINE_MAX,
                        limit if ms / roof > ROOFLINE_MAX else ""))
            for peer, v in [("xfc", ms)] + list(r["peers"].items()):
                if v < roof:
                    out.append((f"{r['name']}: {peer} not below the roofline",
                                f"{v:.1f} < {roof:.1f} ms", False,
                                "faster than the roofline: a bug to find "
                                "(wrong FLOP count, skipped work, or a "
                                "timing error), not a win"))
    for r in doc["records"]:
        if r["name"].startswith("memory/"):
            ratio = r["xfc"] / r["peers"]["lower_bound"]
            out.append((f"{r['name']} ≤ {ARENA_MAX}× lower bound",
                        f"{ratio:.2f}×", ratio <= ARENA_MAX,
                        "" if ratio <= ARENA_MAX else
                        "the arena plan leaves gaps above the lower bound"))
        # Efficient attention at the longest length measured: sliding
        # window and BigBird reach most of their ideal speed-up.
        if (r["name"].startswith("attention/") and r.get("seq") == 16384 and
                r["name"].split("/")[1] in ("sliding_window_w512",
                                            "bigbird_b64") and
                "fraction_of_ideal" in r):
            f = r["fraction_of_ideal"]
            out.append((f"{r['name']} ≥ {ATTENTION_IDEAL_MIN}× ideal "
                        "speed-up", f"{f:.2f}× (of {r['ideal_speedup']:.1f}×)",
                        f >= ATTENTION_IDEAL_MIN,
                        "" if f >= ATTENTION_IDEAL_MIN else
                        "partial tiles at the window edges cost full tiles; "
                        "see executed block density"))
        if r["name"] == "compile/bert-base":
            out.append((f"compile/bert-base ≤ {COMPILE_MAX_S:.0f} s",
                        f"{r['xfc']:.1f} s", r["xfc"] <= COMPILE_MAX_S,
                        "" if r["xfc"] <= COMPILE_MAX_S else
                        "see the compile log for the slowest step"))
    return out


def gemm_shape(name):
    """gemm/M=..,N=..,K=../threads=T[/prepacked] -> gemm/M=..,N=..,K=..."""
    return name.split("/threads=", 1)[0]


def gemm_single_thread(name):
    return name.split("/threads=", 1)[1].split("/")[0] == "1"


def gemm_limits(rows):
    """What the GEMM records show about where xfc's time goes."""
    one = [(r, r["xfc"] / r["peers"]["openblas"]) for r, _, _ in rows
           if gemm_single_thread(r["name"])]
    many = [(r, best) for r, best, _ in rows
            if not gemm_single_thread(r["name"])]
    text = ""
    if one:
        xs = [r["xfc"] for r, _ in one]
        bs = [r["peers"]["openblas"] for r, _ in one]
        rs = [x for _, x in one]
        text += (f"with one thread each, xfc runs at {min(xs):.1f}–"
                 f"{max(xs):.1f} GFLOPS and OpenBLAS (B [N,K]) at "
                 f"{min(bs):.1f}–{max(bs):.1f}, so xfc's kernel reaches "
                 f"{min(rs) * 100:.0f}–{max(rs) * 100:.0f}% of OpenBLAS's: "
                 f"the gap is in the generated matmul code itself, not in "
                 f"threading")
    if many:
        xt = many[0][0]["threads"]["xfc"]
        bt = many[0][0]["threads"]["openblas"]
        # What OpenBLAS gains from its threads on this machine, shape by
        # shape: the most xfc could gain from threads of its own.
        single = {gemm_shape(r["name"]): best
                  for r, best, _ in rows if gemm_single_thread(r["name"])}
        gains = [best / single[gemm_shape(r["name"])]
                 for r, best in many if gemm_shape(r["name"]) in single]
        if xt < bt:
            text += ("; " if text else "") + (
                f"the all-thread records compare xfc on {xt} thread (it has "
                f"no thread setting yet) with OpenBLAS on {bt}")
            if gains:
                text += (f", which is {min(gains):.2f}–{max(gains):.2f}× its "
                         f"single-thread rate here")
                if max(gains) < 1.2:
                    text += (" (the vCPUs gain almost nothing from a second "
                             "thread on this machine, so there the gap is "
                             "the single-thread one)")
    return text


def summary_table(doc):
    lines = [f"{'record':48s}{'unit':>7s}{'xfc':>10s}  peers"]
    for r in doc["records"]:
        peers = ", ".join(f"{k} {fmt(v)}" for k, v in r["peers"].items())
        if "roofline_ms" in r and r["roofline_ms"]:
            peers += f", roofline {r['roofline_ms']:.1f}"
        lines.append(f"{r['name']:48s}{r['unit']:>7s}{fmt(r['xfc']):>10s}  "
                     f"{peers}")
    return "\n".join(lines)


def plot_gemm(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = gemm_rows(doc)
    if not rows:
        return False
    groups = {}
    for r, _, _ in rows:
        shape, threads = r["name"][len("gemm/"):].split("/threads=")
        groups.setdefault(threads, []).append((shape, r))
    fig, axes = plt.subplots(1, len(groups), figsize=(6 * len(groups), 4.5),
                             squeeze=False)
    for ax, (threads, items) in zip(axes[0], groups.items()):
        labels = [s.replace(",", "\n") for s, _ in items]
        x = range(len(items))
        series = [("xfc", [r["xfc"] for _, r in items]),
                  ("OpenBLAS B[N,K]", [r["peers"]["openblas"]
                                       for _, r in items]),
                  ("OpenBLAS B[K,N]", [r["peers"]["openblas_b_kn"]
                                       for _, r in items])]
        w = 0.27
        for i, (name, vals) in enumerate(series):
            ax.bar([xi + (i - 1) * w for xi in x], vals, w, label=name)
        ax.set_xticks(list(x))
        ax.set_xticklabels(labels, fontsize=7)
        ax.set_ylabel("GFLOPS (higher is better)")
        xt = items[0][1]["threads"]["xfc"]
        ax.set_title(f"sgemm, OpenBLAS threads={threads} (xfc: {xt})")
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def plot_e2e(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = e2e_rows(doc)
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    names = ["xfc", "onnxruntime", "pytorch"]
    w = 0.27
    for i, peer in enumerate(names):
        vals = [r["xfc"] if peer == "xfc" else r["peers"].get(peer, 0)
                for r in rows]
        ax.bar([j + (i - 1) * w for j in range(len(rows))], vals, w,
               label=f"{peer}")
    for j, r in enumerate(rows):
        if r.get("roofline_ms"):
            ax.hlines(r["roofline_ms"], j - 1.5 * w, j + 1.5 * w,
                      colors="k", linestyles="dashed",
                      label="roofline" if j == 0 else None)
    ax.set_xticks(range(len(rows)))
    ax.set_xticklabels([r["name"] for r in rows], fontsize=8)
    ax.set_ylabel("median ms, batch 1 (lower is better)")
    ax.set_title("end to end, each peer at its best thread count")
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


ATTENTION_IDEAL_MIN = 0.8


def attention_rows(doc):
    return [r for r in doc["records"] if r["name"].startswith("attention/")]


def plot_attention(doc, path):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    rows = attention_rows(doc)
    if not rows:
        return False
    fig, ax = plt.subplots(figsize=(7, 4.5))
    variants = []
    for r in rows:
        v = r["name"].split("/")[1]
        if v not in variants:
            variants.append(v)
    for v in variants:
        pts = sorted((r["seq"], r["xfc"]) for r in rows
                     if r["name"].split("/")[1] == v)
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o",
                label=f"xfc {v}")
    torch_pts = sorted((r["seq"], r["peers"]["pytorch"]) for r in rows
                       if r["name"].split("/")[1] == "dense"
                       and "pytorch" in r["peers"])
    if torch_pts:
        ax.plot([p[0] for p in torch_pts], [p[1] for p in torch_pts],
                linestyle="dashed", color="k", label="pytorch dense (math)")
    ax.set_xscale("log", base=2)
    ax.set_yscale("log")
    ax.set_xlabel("sequence length L (12 heads x 64, batch 1)")
    ax.set_ylabel("median ms (lower is better)")
    ax.set_title("one attention layer")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)
    return True


def remeasured_lines(doc, part, flag):
    """The line that says when `part` of the records was measured again
    (bench/run.py `flag`), or nothing."""
    again = doc.get(f"{part}_remeasured")
    if not again:
        return []
    what = (f"{', '.join(again['models'])} measured again"
            if "models" in again else "Measured again")
    return [f"{what} on {again['date']} (xfc {again['xfc']}, load average "
            f"{again['load_average_at_start'][0]:.2f} at start, "
            f"{again['load_average_at_end'][0]:.2f} at end): "
            f"`make bench BENCH_ARGS={flag}` (= {again['command']}).", ""]


def attention_markdown(doc, plots):
    rows = attention_rows(doc)
    if not rows:
        return []
    L = ["## Attention (one layer, 12 heads x 64, batch 1; median ms)", ""]
    L += remeasured_lines(doc, "attention", "--attention-only")
    L += [
         "xfc: one `xf.attention` compiled into an artifact (the fused "
         "kernel; a pattern's empty tiles skipped, its partial tiles "
         "masked) and run through the runtime C API at all cores; the "
         "variants of one L are timed in 3 interleaved rounds, each in its "
         "own process after a warm-up run. "
         "`dense`: xfc's own dense fused attention at the same L. "
         "`pytorch`: math attention (`softmax(QK^T/sqrt(d) + M) V`, the "
         "mask built from the definitions) at its best thread count, for "
         "L <= 4096. ideal = L^2 / allowed pairs; executed = the fraction "
         "of tiles the kernel visits; of ideal = (dense / xfc) / ideal. "
         "Peak RSS: the run process's VmHWM (it holds the inputs and the "
         "output, 3 + 1 L x 768 f32 tensors, plus the runtime).", "",
         "| record | xfc | dense | pytorch | speed-up vs dense | ideal | "
         "of ideal | executed | peak RSS MiB |",
         "|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        p = r["peers"]
        L.append(
            f"| `{r['name']}` | {r['xfc']:.1f} | {fmt(p.get('dense'))} | "
            f"{fmt(p.get('pytorch'))} | "
            f"{fmt(r.get('speedup_vs_dense'), 2)} | "
            f"{fmt(r.get('ideal_speedup'), 2)} | "
            f"{fmt(r.get('fraction_of_ideal'), 2)} | "
            f"{fmt(r.get('executed_block_density'), 3)} | "
            f"{r['peak_rss_bytes'] / 2**20:.0f} |")
    growth = [(r, k) for r in rows for k in r
              if k.startswith("per_token_growth")]
    if growth:
        L += ["", "Time per token at the longest L over the shortest "
              f"(`{growth[0][1]}`): " +
              ", ".join(f"{r['name'].split('/')[1]} {r[k]:.2f}"
                        for r, k in growth) +
              " (1.0 = linear in L; dense attention is quadratic)."]
    L.append("")
    if "attention" in plots:
        L += [f"![attention]({plots['attention']})", ""]
    return L


def markdown(doc, plots, compile_logs):
    m = doc["machine_details"]
    v = doc["versions"]
    L = [f"# xfc against its peers on the CPU ({doc['date']})", "",
         "Command (after `make bench` installed the peers):", "", "```",
         "make bench   # = " + doc["command"], "```", "",
         f"Machine: {doc['machine']}, {m['memory_bytes'] / 2**30:.0f} GiB, "
         f"Linux {m['kernel']}. Load average at start "
         f"{m['load_average_at_start'][0]:.2f}, at end "
         f"{m['load_average_at_end'][0]:.2f}.", ""]
    if doc.get("note"):
        L += [doc["note"], ""]
    L += ["Versions: " + ", ".join(f"{k} {val}" for k, val in v.items()
                                   if val and k != "pytorch_blas") + ".", ""]
    if v.get("pytorch_blas"):
        L += ["PyTorch's BLAS: " + ", ".join(v["pytorch_blas"]) + ".", ""]
    L += [f"Threads: {doc['thread_policy']}.", ""]

    rows = gemm_rows(doc)
    if rows:
        L += ["## GEMM (GFLOPS, higher is better)", ""]
        L += remeasured_lines(doc, "gemm", "--gemm-only")
        L += ["xfc: one `xf.linear` compiled into an artifact and run "
              "through the runtime C API; its weight is laid out at "
              "compile time (records named `/prepacked` when the compiler "
              "stored it in register-tile panels, as `xfc_kind` in "
              "results.json says; nothing is packed at run time). "
              "OpenBLAS: `cblas_sgemm` with B given [N,K] "
              "(the Linear layout) and [K,N]; its packing happens in every "
              "call and is timed. Median of at least "
              f"{min(r['runs'] for r, _, _ in rows)} runs (and 0.5 s unless "
              "`--quick`), in rounds that interleave the three, each after "
              "warm-up runs. Ratios are against the faster "
              "OpenBLAS layout.", "",
              "| record | xfc | OpenBLAS B[N,K] | OpenBLAS B[K,N] | "
              "xfc / best OpenBLAS | threads xfc / OpenBLAS | max abs diff |",
              "|---|---:|---:|---:|---:|---:|---:|"]
        for r, best, ratio in rows:
            L.append(f"| `{r['name']}` | {r['xfc']:.1f} | "
                     f"{r['peers']['openblas']:.1f} | "
                     f"{r['peers']['openblas_b_kn']:.1f} | {ratio:.2f}× | "
                     f"{r['threads']['xfc']} / {r['threads']['openblas']} | "
                     f"{r['max_abs_diff_vs_openblas']:.1e} |")
        L.append("")
        if "gemm" in plots:
            L += [f"![GEMM]({plots['gemm']})", ""]

    e2e = e2e_rows(doc)
    if e2e:
        L += ["## End to end (median ms, batch 1, sequence 128; lower is "
              "better)", ""]
        L += remeasured_lines(doc, "models", "--models-only")
        L += ["Same random weights and inputs for every peer. xfc: the "
              "artifact run through `libxfc_runtime.so` (ctypes; process "
              "start, open and weight mapping excluded). ONNX Runtime: the "
              "model exported by `bench/export_models.py`, all graph "
              "optimizations. PyTorch: eager, `no_grad`, the same module "
              "and, for BERT-like encoders, `nn.TransformerEncoder`'s fused "
              "inference path (the variant that won is in parentheses). "
              "Each configuration (peer, variant, threads) is "
              "timed in its own process; the configurations are "
              f"interleaved in {e2e[0].get('rounds', 1)} rounds, each with "
              "its own warm-up, and the median is over the "
              f"{e2e[0]['runs']} runs of all rounds. The best configuration "
              "of each peer is recorded.", "",
              "| record | xfc | ONNX Runtime | PyTorch | roofline | "
              "GFLOP | threads (xfc/ORT/PT) | max abs diff vs PyTorch "
              "(xfc/ORT/PT) |",
              "|---|---:|---:|---:|---:|---:|---|---|"]
        for r in e2e:
            t = r["threads"]
            d = r["max_abs_diff_vs_pytorch_reference"]
            L.append(
                f"| `{r['name']}` | {r['xfc']:.1f} | "
                f"{fmt(r['peers'].get('onnxruntime'))} | "
                f"{fmt(r['peers'].get('pytorch'))} | "
                f"{fmt(r.get('roofline_ms'))} | {r['flops'] / 1e9:.1f} | "
                f"{t.get('xfc', '–')}/{t.get('onnxruntime', '–')}/"
                f"{t.get('pytorch', '–')}"
                + (f" ({r['variants']['pytorch']})"
                   if r.get("variants", {}).get("pytorch") else "")
                + " | "
                + "/".join(f"{d[p]:.1e}" if p in d else "–"
                           for p in ("xfc", "onnxruntime", "pytorch"))
                + " |")
        L += ["", "Every measurement (median ms by thread count):", ""]
        for r in e2e:
            parts = []
            for peer, results in r["all_measurements"].items():
                for x in results:
                    v = f" ({x['variant']})" if x.get("variant") else ""
                    if "median_ms" in x:
                        parts.append(f"{peer}{v} {x['threads']} thr "
                                     f"{x['median_ms']:.1f}")
                    else:
                        parts.append(f"{peer}: skipped")
            L.append(f"- `{r['name']}`: " + "; ".join(parts))
        L.append("")
        if "e2e" in plots:
            L += [f"![end to end]({plots['e2e']})", ""]

    L += attention_markdown(doc, plots)

    decode = [r for r in doc["records"] if r["name"].startswith("decode/")]
    if decode:
        L += ["## Decoding with the key/value cache (tokens/s, higher is "
              "better)", ""]
        L += remeasured_lines(doc, "decode", "--decode-only")
        L += ["Greedy decoding of a random GPT-2 small, batch 1: 1 / the "
              "median time of the decode steps at positions C-32..C-1, "
              "argmax included. xfc: `xfc_generator_decode` of an artifact "
              "compiled with `--generate`; PyTorch: transformers' "
              "GPT2LMHeadModel with its cache (the loop `generate` runs). "
              "Each at its better thread count (bench/decode_bench.py).",
              "", "| record | xfc | PyTorch | xfc / PyTorch | threads "
              "(xfc/PT) |", "|---|---:|---:|---:|---|"]
        for r in decode:
            pt = r["peers"].get("pytorch")
            ratio = f"{r['xfc'] / pt:.2f}×" if pt else "–"
            L.append(f"| `{r['name']}` | {r['xfc']:.1f} | "
                     f"{pt:.1f} | {ratio} | {r.get('xfc_threads', '?')}/"
                     f"{r.get('pytorch_threads', '?')} |" if pt else
                     f"| `{r['name']}` | {r['xfc']:.1f} | – | – | "
                     f"{r.get('xfc_threads', '?')}/– |")
        L.append("")

    other = [r for r in doc["records"]
             if r["name"].startswith(("memory/", "compile/"))]
    if other:
        L += ["## Memory and compile time", "", "| record | unit | xfc | "
              "peers |", "|---|---|---:|---|"]
        for r in other:
            L.append(f"| `{r['name']}` | {r['unit']} | {fmt(r['xfc'], 2)} | "
                     + ", ".join(f"{k} {val}" for k, val in
                                 r["peers"].items()) + " |")
        L.append("")
    if compile_logs:
        for name, text in compile_logs.items():
            L += [f"`xfc compile` of {name}:", "", "```", text.rstrip(),
                  "```", ""]

    checks = check_targets(doc)
    if checks:
        L += ["## Targets", "", "| target | measured | met |",
              "|---|---|---|"]
        for target, measured, ok, _ in checks:
            L.append(f"| {target} | {measured} | "
                     f"{'yes' if ok else '**no**'} |")
        L.append("")
        missed = [(t, why) for t, _, ok, why in checks if not ok and why]
        if missed:
            L += ["## What limits the missed targets", ""]
            seen = set()
            gemm_missed = [t for t, why in missed if why == "gemm"]
            if gemm_missed:
                L.append(f"- GEMM ({len(gemm_missed)} of {len(rows)} records "
                         f"below {GEMM_MIN}×): " + gemm_limits(rows) + ".")
            missed = [(t, why) for t, why in missed if why != "gemm"]
            for t, why in missed:
                if why in seen:
                    L.append(f"- {t}: as above.")
                    continue
                seen.add(why)
                L.append(f"- {t}: {why}.")
            L.append("")
    if doc["skipped"]:
        L += ["## Skipped", ""] + [f"- {s}" for s in doc["skipped"]] + [""]
    return "\n".join(L)


def write_all(doc, results_path, report_dir, compile_logs):
    """Writes the plots, the report and results.json; returns the report's
    path. Every file is written whole or not at all."""
    os.makedirs(report_dir, exist_ok=True)
    stem = doc["date"].split(" ")[0] + "-cpu"
    plots = {}
    for key, fn in (("gemm", plot_gemm), ("e2e", plot_e2e),
                    ("attention", plot_attention)):
        name = f"{stem}-{key}.png"
        tmp = os.path.join(report_dir, f".tmp-{name}")
        try:
            if fn(doc, tmp):
                os.replace(tmp, os.path.join(report_dir, name))
                plots[key] = name
        except ImportError as e:
            doc["skipped"].append(f"plots: matplotlib is missing ({e})")
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    doc["report"] = os.path.join(report_dir, stem + ".md")
    doc["plots"] = [os.path.join(report_dir, p) for p in plots.values()]
    report_path = doc["report"]
    atomic_write(report_path, markdown(doc, plots, compile_logs) + "\n")
    atomic_write(results_path, json.dumps(doc, indent=1) + "\n")
    return report_path
