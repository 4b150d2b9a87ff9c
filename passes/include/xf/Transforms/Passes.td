//===- Passes.td - Transformations of the xf dialect --------*- tablegen -*-===//
//
// Part of xfc. Passes that rewrite `xf` IR into `xf` IR, and the passes
// that transform the model function after bufferization (memory planning).
//
//===----------------------------------------------------------------------===//
#ifndef XF_TRANSFORMS_PASSES_TD
#define XF_TRANSFORMS_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// Decomposition
//===----------------------------------------------------------------------===//

def XFDecomposeModelOps : Pass<"xf-decompose-model-ops"> {
  let summary = "Rewrite model-level ops into linear, attention and activation ops";
  let description = [{
    `xf.multi_head_attention` becomes three `xf.linear` projections, one
    `xf.attention` and the output `xf.linear`; `xf.feed_forward` becomes
    `xf.linear`, `xf.activation`, `xf.linear`. Passes that rewrite attention
    or the feed-forward block as a whole (fusion, sparse attention) run
    before this one.
  }];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

//===----------------------------------------------------------------------===//
// Weight layout
//===----------------------------------------------------------------------===//

def XFWeightLayout : Pass<"xf-weight-layout", "::mlir::ModuleOp"> {
  let summary = "Choose the storage layout of linear weights passed as arguments";
  let description = [{
    A weight that is a function argument (marked `xf.weight`) and used only
    as the weight of `xf.linear` ops is stored transposed (`[in, out]`),
    which lets the matmul read it row by row. The argument's type changes,
    the linears get `transpose_weight`, and the argument gets
    `xf.weight_transform = "transpose"` so the compiler writes the weight
    file to match (and lists the change in the manifest). A weight that is
    also read otherwise (a tied embedding table) keeps its layout for that
    use, and its linears get a copy of their own: a derived argument
    `<name>.linear` (`xf.weight_concat = ["<name>"]`) laid out like any
    linear weight, so the LM head runs the tiled GEMM. Functions that
    are called or otherwise referenced in the module keep their signature:
    the pass never changes an interface someone else depends on.

    With `pack-panel-width=p`, such a weight is stored in column panels
    `[out/p, in, p]` instead (`xf.weight_transform = "pack<p>"`), the layout
    the CPU register tile reads contiguously; `p` is the register tile's
    width (three vector registers). When `p` does not divide the output
    size, the last panel is padded with zero columns
    (`[ceil(out/p), in, p]`, the argument gets
    `xf.weight_source_shape = [out, in]`) if that adds at most 1/8 to the
    work and no user has a residual epilogue: the vocabulary-sized LM head
    (50257 = 2094 x 24 + 1) then runs the packed kernel. Other weights
    are transposed as before.
  }];
  let options = [
    Option<"transposeLinearWeights", "transpose-linear-weights", "bool",
           /*default=*/"true",
           "Store linear weights [in, out] instead of [out, in]">,
    Option<"packPanelWidth", "pack-panel-width", "int64_t",
           /*default=*/"0",
           "If > 0 (with transpose-linear-weights), store linear weights "
           "whose output features are a multiple of it in panels "
           "[out/p, in, p] (`pack<p>`) instead of [in, out]">
  ];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

//===----------------------------------------------------------------------===//
// Memory planning
//===----------------------------------------------------------------------===//

def XFPlanMemory : Pass<"xf-plan-memory", "::mlir::ModuleOp"> {
  let summary = "Place every intermediate buffer of the model function in one arena";
  let description = [{
    Runs on bufferized IR, in place of a deallocation pipeline. The schedule
    is the program order of the model function's top-level ops. Each
    `memref.alloc` lives from its first to its last use, following aliases
    (views, reshapes, casts, any memref result of a user, values yielded
    out of regions); a use inside a nested region counts at its top-level
    ancestor, so an alloc in an `scf.for` body lives for the whole loop.
    Allocs inside an `scf.forall` or `scf.parallel` body are per-thread tile
    temporaries: they become `memref.alloca` at the start of that body when
    at most `max-alloca-bytes` (error otherwise).

    The planner (xf/Analysis/MemoryPlan.h) packs the remaining buffers into
    one arena; an elementwise linalg op whose input dies at that op may
    write its output in the input's place. The model function gets a new
    trailing argument `memref<ARENAxi8> {xf.arena}`, every planned alloc
    becomes a `memref.view` into it at its offset, and every dealloc of a
    planned buffer is erased. The module gets `xf.memory_plan` with the
    arena size, the naive sum, the lower bound and the placement of each
    buffer.

    ```mlir
    %alloc = memref.alloc() {alignment = 64 : i64} : memref<4x8xf32>
    // becomes
    %c128 = arith.constant 128 : index
    %view = memref.view %arena[%c128][] : memref<256xi8> to memref<4x8xf32>
    ```

    With `poison-dead-buffers`, each buffer is filled with NaN (all-ones
    bytes if its size is not a multiple of 4) right after its last use, so
    a plan that reuses bytes too early shows up as NaN in the results.
  }];
  let options = [
    Option<"modelFunction", "model-function", "std::string",
           /*default=*/"\"xf_model\"", "The function whose buffers are planned">,
    Option<"poisonDeadBuffers", "poison-dead-buffers", "bool",
           /*default=*/"false",
           "Fill every buffer with NaN after its last use (debug mode)">,
    Option<"inPlace", "in-place", "bool", /*default=*/"true",
           "Let an elementwise op write its output over its dying input">,
    Option<"maxAllocaBytes", "max-alloca-bytes", "int64_t",
           /*default=*/"65536",
           "The largest per-thread temporary (inside scf.forall or "
           "scf.parallel) put on the stack">
  ];
  let dependentDialects = [
    "::mlir::arith::ArithDialect",
    "::mlir::linalg::LinalgDialect",
    "::mlir::memref::MemRefDialect"
  ];
}

//===----------------------------------------------------------------------===//
// Attention kernels
//===----------------------------------------------------------------------===//

def XFFuseAttention : Pass<"xf-fuse-attention"> {
  let summary = "Choose the fused (FlashAttention) kernel for xf.attention";
  let description = [{
    Marks every `xf.attention` op to be lowered by `convert-xf-to-linalg`
    as one tiled kernel that never materializes the `Sq x Sk` scores: an
    online softmax over the key blocks that the op's block map visits
    (docs/compiler.md, "Fused attention"). The decision is an attribute,
    so tools and tests see it before anything is lowered:

    ```mlir
    %o = xf.attention %q, %k, %v {causal, num_heads = 12 : i64,
        scale = 1.250000e-01 : f64,
        xf.attention_kernel = {block_k = 64 : i64, block_q = 32 : i64,
                               kind = "flash", masked_blocks = 2 : i64,
                               pattern = "causal", visited_blocks = 3 : i64}}
    ```

    An op that already carries `xf.attention_kernel` keeps it. Block sizes
    are clamped to the sequence lengths (a 7-token sequence
    gets 7-row tiles, not 32 rows of padding). `visited_blocks` and
    `masked_blocks` count the block map's tiles of one (batch item, head);
    `Sq/Bq * Sk/Bk` minus `visited_blocks` is what causality skips.

    A pattern part that is sparse inside every tile (a dilated window with
    d > 1, the Sparse Transformer's strided A2) is gathered where that pays
    (`gather`, on by default): computed per residue class on dense tiles of
    strided views of Q, K and V (xf/Analysis/AttentionGather.h); the fixed
    pattern's A2 over its summary keys, copied into a compact K and V, with
    the queries contiguous. The dictionary then records the strategy of
    each head group (`gather = ["residue(classes = 2)"]`,
    `"summary_keys(l = 128, c = 16)"`, `"none"` for a group computed
    directly), `gathered_blocks` (the per-class tiles, all classes) and
    `executed_pairs` (the (query, key) pairs of every visited tile, the
    honest measure of the work when tiles differ in size); `visited_blocks`
    and `masked_blocks` then count the tiles of both phases.

    The default tile sizes fit a CPU with a 32 KiB L1 and a 512 KiB L2: with
    head dim 64, one step reads a K and a V tile (2 x 64 x 64 x 4 B = 32 KiB,
    streamed from L2) while the 32-row Q tile, scores and accumulator
    (3 x 8 KiB) stay in L1; every K/V byte loaded is reused by 32 queries.
  }];
  let options = [
    Option<"blockQ", "block-q", "int64_t", /*default=*/"32",
           "Query rows per tile (Bq)">,
    Option<"blockK", "block-k", "int64_t", /*default=*/"64",
           "Keys per tile (Bk)">,
    Option<"blockTable", "block-table", "bool", /*default=*/"false",
           "Read the visited blocks from the block map's table at run time "
           "(driver = \"table\") even for dense and causal maps, whose "
           "closed form is used otherwise">,
    Option<"gather", "gather", "bool", /*default=*/"true",
           "Compute parts that are sparse inside every tile (dilated "
           "windows, strided and fixed summary sets) on dense gathered "
           "tiles, where that executes fewer pairs">
  ];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

//===----------------------------------------------------------------------===//
// Fusion
//===----------------------------------------------------------------------===//

def XFChunkFeedForward : Pass<"xf-chunk-feed-forward"> {
  let summary = "Run feed-forward blocks over chunks of rows (Reformer)";
  let description = [{
    Rewrites each `xf.feed_forward` whose input has more than `chunk-size`
    rows (all leading dimensions together: the block is position-wise) into
    an `scf.for` over chunks of `chunk-size` rows that applies the block to
    one chunk at a time and inserts its result into the output, so the
    `[rows, d_ff]` intermediate is only `[chunk-size, d_ff]` at a time
    (Reformer's chunked feed-forward). When `chunk-size` does not divide
    the row count the remaining rows form one smaller chunk after the loop,
    so every shape stays static. The chunks are `xf.feed_forward` ops on
    `[chunk-size, D]` slices, decomposed and fused like any other; runs
    before `xf-decompose-model-ops`, which needs the block as one op. The
    numbers do not change: every row is computed exactly as before.
  }];
  let options = [
    Option<"chunkSize", "chunk-size", "int64_t", /*default=*/"0",
           "Rows per chunk; 0 leaves the blocks alone">
  ];
  let dependentDialects = [
    "::mlir::xf::XFDialect", "::mlir::scf::SCFDialect",
    "::mlir::tensor::TensorDialect", "::mlir::arith::ArithDialect"
  ];
}

def XFFuseQKV : Pass<"xf-fuse-qkv", "::mlir::ModuleOp"> {
  let summary = "Compute projections of one input as a single linear";
  let description = [{
    Linears that read the same input and feed the same op (the Q, K and V
    projections of self-attention; K and V of cross-attention), whose
    weights and biases are `xf.weight` arguments in `[out, in]` layout,
    become one linear over a weight concatenated along the output features,
    followed by `xf.split`: one GEMM reads the input once instead of three
    times. The concatenated weight (and bias) is a new argument marked
    `xf.weight = "<derived name>"` and
    `xf.weight_concat = [<source names>]`, which the compiler builds from
    the source weights when it writes the artifact; source weights left
    unused are removed from the signature, so they are not stored. Runs
    after `xf-decompose-model-ops` and before `xf-weight-layout`, which
    then stores the fused weight `[in, out]`. Functions that are called or
    referenced keep their signature and are not rewritten.
  }];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

def XFFuseEpilogue : Pass<"xf-fuse-epilogue"> {
  let summary = "Fold activations and residual adds into the linear before them";
  let description = [{
    An `xf.activation` whose input is an `xf.linear` result used only there
    becomes the linear's `activation`; an `xf.add` with such a linear
    result as one operand becomes the linear's `residual` (after its
    activation: `act(x W^T + b) + r`). The lowering then computes both in
    the GEMM's output loop instead of separate passes over the output.
    Runs after `xf-decompose-model-ops` and `xf-fuse-residual-layernorm`
    (which takes the adds that feed a LayerNorm).
  }];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

def XFFuseResidualLayerNorm : Pass<"xf-fuse-residual-layernorm"> {
  let summary = "Fold a residual add into the LayerNorm that follows it";
  let description = [{
    `xf.layer_norm(xf.add(a, b))` becomes `xf.layer_norm a residual(b)`,
    which the lowering computes row by row: the sum, its mean and variance
    and the normalized row while the row is in cache. When the sum has
    other uses (a pre-LN stack keeps it as the residual stream), the fused
    op also returns the sum as its second result and those uses read it.
    Runs before `xf-fuse-epilogue`: an add followed by a norm is cheaper
    in the norm, which reads the row once, than in the linear producing
    it, after which the norm reads the sum three times.
  }];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

//===----------------------------------------------------------------------===//
// Kernels
//===----------------------------------------------------------------------===//

def XFFormKernels : Pass<"xf-form-kernels", "::mlir::ModuleOp"> {
  let summary = "Number, name and describe the kernels left after fusion";
  let description = [{
    Runs last on `xf` IR. Every compute op at the top of a function (an
    `xf` op other than `xf.split`, or an `scf.for` of `xf` ops made by
    `xf-chunk-feed-forward`) is one kernel. Kernels are numbered in
    program order; each op's location (and that of every op nested in it)
    is wrapped in `loc("xf.kernel.<id>"(...))`, which every op lowered from
    it inherits, and the module gets `xf.kernels`: per kernel its `id`,
    display `name` (the common prefix of its spec nodes, then the parts
    joined with `+`), `symbol` (`xf_k<id>_<name>` with every character
    outside `[A-Za-z0-9_]` made `_`), `kind` (e.g. `linear+gelu`,
    `residual+layer_norm`, `attention(fused, causal)`), `nodes` (the spec
    nodes its location names), `flops` and `bytes` (docs/compiler.md,
    "Kernels").
  }];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

def XFOutlineKernels : Pass<"xf-outline-kernels", "::mlir::ModuleOp"> {
  let summary = "Move each kernel into a function named after its spec nodes";
  let description = [{
    Runs on memref IR, after `xf-plan-memory` and before
    `xf-cpu-forall-to-openmp`. Groups the top-level ops of the model
    function by the kernel tag `xf-form-kernels` put in their locations
    and moves each group into `func.func private @<symbol>` (the `symbol`
    of its `xf.kernels` record), called from the model function. The
    symbol stays in the library (`noinline`, internal linkage: in `.symtab`,
    not exported), and OpenMP outlining names the parallel regions after
    it, so profiles read in spec node names.

    Ops without memory effects or regions (constants, views, casts, index
    arithmetic) belong to no kernel: each kernel function gets its own
    copies of those it uses, so it takes only the model function's
    arguments (identity-layout memrefs, as the bare-pointer calling
    convention requires) and keeps every offset and shape constant. Other
    ops follow their tag; an untagged one joins the kernel before it (the
    copy into an output follows the kernel that computed it), or the first
    kernel when none precedes it. A kernel whose ops are split by another
    kernel gives one function per run, suffixed `_part1`, `_part2`, ...;
    values one kernel defines and a later one uses are returned (scalars
    only).

    With `profile`, the model function takes one more argument, the
    profile buffer `memref<(2 + 2 N)xi64>` (attribute `xf.profile`; N is
    the number of kernels): word 0 is the enable flag, read once per run;
    when it is non-zero, word 1 accumulates the cycle counter
    (`llvm.readcyclecounter`) over the whole run and words `2 + 2k` and
    `3 + 2k` the ticks and calls of kernel k. Each kernel call sits in an
    `scf.if` on the flag, so a run without profiling pays one branch per
    kernel (docs/artifact.md, "Profiling").
  }];
  let options = [
    Option<"modelFunction", "model-function", "std::string",
           /*default=*/"\"xf_model\"", "Name of the model function">,
    Option<"profile", "profile", "bool", /*default=*/"false",
           "Add the profile buffer argument and count ticks per kernel">
  ];
  let dependentDialects = [
    "::mlir::func::FuncDialect", "::mlir::memref::MemRefDialect",
    "::mlir::arith::ArithDialect", "::mlir::scf::SCFDialect",
    "::mlir::LLVM::LLVMDialect"
  ];
}

#endif // XF_TRANSFORMS_PASSES_TD
