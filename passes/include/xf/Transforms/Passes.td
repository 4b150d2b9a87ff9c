//===- Passes.td - Transformations of the xf dialect --------*- tablegen -*-===//
//
// Part of xfc. Passes that rewrite `xf` IR into `xf` IR.
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
    file to match (and lists the change in the manifest). Weights with any
    other use (a tied embedding table) keep their layout. Functions that
    are called or otherwise referenced in the module keep their signature:
    the pass never changes an interface someone else depends on.
  }];
  let options = [
    Option<"transposeLinearWeights", "transpose-linear-weights", "bool",
           /*default=*/"true",
           "Store linear weights [in, out] instead of [out, in]">
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

#endif // XF_TRANSFORMS_PASSES_TD
