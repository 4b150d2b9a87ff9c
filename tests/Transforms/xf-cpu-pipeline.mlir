// The CPU pipeline, whole and stage by stage; each stage is fed the output
// of the one before, as `xfc compile` runs them.
// RUN: xfc-opt %s --xf-cpu-pipeline | FileCheck %s --check-prefix=CPU
// RUN: xfc-opt %s --xf-model-stage | FileCheck %s --check-prefix=MODEL
// RUN: xfc-opt %s --xf-model-stage=transpose-linear-weights=false | FileCheck %s --check-prefix=KEEP
// RUN: xfc-opt %s '--xf-model-stage=fuse-qkv=false fuse-epilogue=false fuse-residual-layernorm=false' | FileCheck %s --check-prefix=UNFUSED
// RUN: xfc-opt %s '--xf-cpu-pipeline=fuse-qkv=false' | FileCheck %s --check-prefix=CPU-UNFUSED
// RUN: xfc-opt %s --xf-model-stage | xfc-opt --xf-linalg-stage | FileCheck %s --check-prefix=LINALG
// RUN: xfc-opt %s --xf-model-stage=fuse-attention=false | xfc-opt --xf-linalg-stage | FileCheck %s --check-prefix=UNFUSED-ATTN
// RUN: xfc-opt %s --xf-cpu-pipeline=fuse-attention=false | FileCheck %s --check-prefix=CPU
// RUN: xfc-opt %s --xf-model-stage | xfc-opt --xf-linalg-stage | xfc-opt --xf-buffer-stage | FileCheck %s --check-prefix=BUFFER
// Stages replayed one by one carry the locations along (kernel tags).
// RUN: xfc-opt %s --xf-model-stage --mlir-print-debuginfo | xfc-opt --xf-linalg-stage --mlir-print-debuginfo | xfc-opt --xf-buffer-stage --mlir-print-debuginfo | xfc-opt --xf-llvm-stage | FileCheck %s --check-prefix=CPU
// RUN: xfc-opt %s --xf-cpu-pipeline=runtime-verification=true | FileCheck %s --check-prefix=VERIFIED
// RUN: xfc-opt %s --xf-cpu-pipeline | FileCheck %s --check-prefix=UNVERIFIED

// A linear, a layer norm and causal self-attention without biases.
func.func @xf_model(%x: tensor<1x4x8xf32>,
    %w: tensor<8x8xf32> {xf.weight = "proj.weight"},
    %b: tensor<8xf32> {xf.weight = "proj.bias"},
    %g: tensor<8xf32> {xf.weight = "norm.weight"},
    %beta: tensor<8xf32> {xf.weight = "norm.bias"},
    %wq: tensor<8x8xf32> {xf.weight = "attn.q.weight"},
    %wk: tensor<8x8xf32> {xf.weight = "attn.k.weight"},
    %wv: tensor<8x8xf32> {xf.weight = "attn.v.weight"},
    %wo: tensor<8x8xf32> {xf.weight = "attn.out.weight"})
    -> tensor<1x4x8xf32> {
  %0 = xf.linear %x, %w, %b
      : (tensor<1x4x8xf32>, tensor<8x8xf32>, tensor<8xf32>)
      -> tensor<1x4x8xf32>
  %1 = xf.layer_norm %0, %g, %beta {epsilon = 1.0e-05 : f64}
      : (tensor<1x4x8xf32>, tensor<8xf32>, tensor<8xf32>) -> tensor<1x4x8xf32>
  %2 = xf.multi_head_attention %1, %1, q(%wq), k(%wk), v(%wv), out(%wo)
      {num_heads = 2 : i64, causal}
      : (tensor<1x4x8xf32>, tensor<1x4x8xf32>, tensor<8x8xf32>,
         tensor<8x8xf32>, tensor<8x8xf32>, tensor<8x8xf32>)
      -> tensor<1x4x8xf32> loc("attn")
  return %2 : tensor<1x4x8xf32>
}

// Model stage: decomposed, the three projections of the same input fused
// into one linear over a derived weight, stored in 24-wide register-tile
// panels (the default vector width, 8); the 8-wide weights, which panels do
// not tile, transposed.
// MODEL-LABEL: func.func @xf_model
// MODEL-SAME: %[[W:[^:]*]]: tensor<8x8xf32> {xf.weight = "proj.weight", xf.weight_transform = "transpose"}
// MODEL-SAME: %[[QKV:[^:]*]]: tensor<1x8x24xf32> {xf.weight = "attn.qkv.weight", xf.weight_concat = ["attn.q.weight", "attn.k.weight", "attn.v.weight"], xf.weight_transform = "pack24"}
// MODEL-SAME: %{{[^:]*}}: tensor<8x8xf32> {xf.weight = "attn.out.weight", xf.weight_transform = "transpose"}
// MODEL-NOT: xf.multi_head_attention
// MODEL: %[[P:.*]] = xf.linear %{{.*}}, %[[W]], %{{.*}} {transpose_weight}
// MODEL: %[[N:.*]] = xf.layer_norm %[[P]]
// MODEL: %[[F:.*]] = xf.linear %[[N]], %[[QKV]] {weight_panel = 24 : i64}
// MODEL: %[[S:.*]]:3 = xf.split %[[F]]
// MODEL: %[[A:.*]] = xf.attention %[[S]]#0, %[[S]]#1, %[[S]]#2 {causal, num_heads = 2 : i64, scale = 5.000000e-01 : f64, xf.attention_kernel = {allowed_pairs = 10 : i64, block_k = 4 : i64, block_q = 4 : i64, kind = "flash", masked_blocks = 1 : i64, pattern = "causal", visited_blocks = 1 : i64}}
// MODEL: %[[O:.*]] = xf.linear %[[A]], %{{.*}} {transpose_weight}
// MODEL-NOT: xf.multi_head_attention
// MODEL: return %[[O]]

// Without the fusions: three projections of the same input, each with its
// own weight.
// UNFUSED-LABEL: func.func @xf_model
// UNFUSED-SAME: {xf.weight = "attn.q.weight", xf.weight_transform = "transpose"}
// UNFUSED-NOT: xf.split
// UNFUSED-COUNT-3: xf.linear %[[N:.*]], %{{.*}} {transpose_weight}
// UNFUSED-NOT: xf.split

// KEEP-LABEL: func.func @xf_model
// KEEP-NOT: transpose
// KEEP: xf.attention
// KEEP-NOT: transpose
// KEEP: return

// Linalg stage: no xf op is left (the xf.weight argument attributes stay).
// LINALG-LABEL: func.func @xf_model
// LINALG-SAME: {xf.weight = "proj.weight", xf.weight_transform = "transpose"}
// LINALG-NOT: = xf.
// LINALG: linalg.broadcast
// LINALG: linalg.generic
// LINALG: math.sqrt
// LINALG: scf.forall
// LINALG: arith.cmpi sgt
// LINALG: math.exp
// LINALG-NOT: = xf.
// LINALG: return %{{.*}} : tensor<1x4x8xf32>

// Attention fusion off: the scores [B, H, Sq, Sk] are materialized (the
// only scf.forall left are the thread tiles of the contractions).
// UNFUSED-ATTN-LABEL: func.func @xf_model
// UNFUSED-ATTN-NOT: xf.attention_kernel
// UNFUSED-ATTN: tensor<1x2x4x4xf32>
// UNFUSED-ATTN-NOT: xf.attention_kernel
// UNFUSED-ATTN: return

// Buffer stage: memrefs, the result as an out-parameter, every
// intermediate buffer a view of the arena argument, nothing freed.
// BUFFER-LABEL: func.func @xf_model
// BUFFER-SAME: (%{{[^:]*}}: memref<1x4x8xf32>,
// BUFFER-SAME: %[[OUT:[^:]*]]: memref<1x4x8xf32>,
// BUFFER-SAME: %[[ARENA:[^:]*]]: memref<{{[0-9]+}}xi8> {xf.arena}) {
// BUFFER-NOT: tensor<
// BUFFER-NOT: bufferization.
// BUFFER-NOT: memref.alloc()
// BUFFER: memref.view %[[ARENA]]
// BUFFER: linalg.generic
// BUFFER-NOT: memref.alloc()
// BUFFER-NOT: memref.dealloc
// BUFFER-NOT: tensor<
// BUFFER: return{{$}}

// Whole pipeline: the LLVM dialect only, with the entry point wrapping the model
// function and its ten pointers (input, six weights (Q, K and V are one),
// output, arena, profile buffer); twelve without QKV fusion. Each kernel is
// a function of its own, named after its spec nodes (the attention op is
// spec node "attn", so its projections are "attn.q", "attn.k", "attn.v").
// CPU-UNFUSED: llvm.call @xf_model({{(%[0-9]+, ){11}%[0-9]+}}) : ({{(!llvm.ptr, ){11}!llvm.ptr}}) -> ()
// CPU-NOT: {{= (xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}
// CPU-NOT: {{^[[:space:]]*(xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}
// CPU-NOT: @malloc
// CPU: llvm.func internal @xf_k{{[0-9]+}}_attn_q_k_v(
// CPU-SAME: passthrough = ["noinline"]
// CPU: llvm.func @xf_model(%{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr {xf.weight = "proj.weight", xf.weight_transform = "transpose"}
// CPU-NOT: {{= (xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}
// CPU-NOT: {{^[[:space:]]*(xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}
// CPU: llvm.func @xfc_entry(%[[ARGV:[^:]*]]: !llvm.ptr) {
// CPU-COUNT-10: llvm.load
// CPU: llvm.call @xf_model({{(%[0-9]+, ){9}%[0-9]+}}) : ({{(!llvm.ptr, ){9}!llvm.ptr}}) -> ()
// CPU-NEXT: llvm.return
// CPU-NOT: {{= (xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}
// CPU-NOT: {{^[[:space:]]*(xf|linalg|memref|tensor|arith|math|scf|cf|func|affine|bufferization)\.}}

// runtime-verification=true: MLIR's generate-runtime-verification guards
// the loops' memref accesses; a failed check prints its message (the op and
// its location, "ERROR: Runtime op verification failed" in hex) and aborts.
// VERIFIED: llvm.mlir.global private constant @assert_msg_{{[0-9]+}}(dense<"0x4552524F523A2052756E74696D65206F7020766572696669636174696F6E206661696C6564
// VERIFIED: llvm.call @puts
// VERIFIED-NEXT: llvm.call @abort()
// UNVERIFIED-NOT: @assert_msg
