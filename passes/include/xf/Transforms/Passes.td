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

    With `pack-panel-width=p`, such a weight is stored in column panels
    `[out/p, in, p]` instead (`xf.weight_transform = "pack<p>"`), the layout
    the CPU register tile reads contiguously; `p` is the register tile's
    width (three vector registers). Weights whose output size is not a
    multiple of `p` are transposed as before.
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

#endif // XF_TRANSFORMS_PASSES_TD
