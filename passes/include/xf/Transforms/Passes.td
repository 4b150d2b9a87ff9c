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
           "closed form is used otherwise">
  ];
  let dependentDialects = ["::mlir::xf::XFDialect"];
}

#endif // XF_TRANSFORMS_PASSES_TD
