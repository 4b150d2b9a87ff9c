// RUN: xfc-opt %s -split-input-file -xf-form-kernels -mlir-print-debuginfo | FileCheck %s

// Every compute op left at the top of the function is a kernel, numbered
// in program order; xf.split is a view, not a kernel. The module records
// each kernel's name (common prefix of its spec nodes, then the parts),
// symbol, kind, nodes, FLOPs and bytes, and each kernel op's location is
// tagged with its number.

// CHECK-LABEL: module attributes {xf.kernels = [
// The QKV GEMM: 2*7*16*48 + 7*48 (bias) FLOPs; x, W, b read and the
// [7, 48] result written: (112 + 768 + 48 + 336) * 4 bytes.
// CHECK-SAME: {bytes = 5056 : i64, flops = 11088 : i64, id = 0 : i64, kind = "linear(concatenated)", name = "l0.attn.q+k+v", nodes = ["l0.attn.q", "l0.attn.k", "l0.attn.v"], symbol = "xf_k0_l0_attn_q_k_v"}
// Unfused attention, 2 heads of 8: 2*7*7 scores of (4*8 + 5) FLOPs; Q, K,
// V, O plus the scores written and read once: 4*448 + 2*98*4 bytes.
// CHECK-SAME: {bytes = 2576 : i64, flops = 3626 : i64, id = 1 : i64, kind = "attention(unfused)", name = "l0.attn.core", nodes = ["l0.attn.core"], symbol = "xf_k1_l0_attn_core"}
// 2*7*16*16 + 5*112 (GELU) + 112 (residual).
// CHECK-SAME: {bytes = 2368 : i64, flops = 4256 : i64, id = 2 : i64, kind = "linear+gelu+residual", name = "l0.ffn.fc1+act+residual", nodes = ["l0.ffn.fc1", "l0.ffn.act", "l0.ffn.residual"], symbol = "xf_k2_l0_ffn_fc1_act_residual"}
// CHECK-SAME: ]}
// CHECK: xf.linear {{.*}} loc(#[[K0:loc[0-9]*]])
// CHECK: xf.split {{.*}} loc(#[[QKV:loc[0-9]*]])
// CHECK: xf.attention {{.*}} loc(#[[K1:loc[0-9]*]])
// CHECK: xf.linear {{.*}} loc(#[[K2:loc[0-9]*]])
// CHECK-DAG: #[[K0]] = loc("xf.kernel.0"(
// CHECK-DAG: #[[K1]] = loc("xf.kernel.1"(
// CHECK-DAG: #[[K2]] = loc("xf.kernel.2"(
module {
func.func @layer(%x: tensor<1x7x16xf32>, %w: tensor<48x16xf32>,
    %b: tensor<48xf32>, %w1: tensor<16x16xf32>) -> tensor<1x7x16xf32> {
  %f = xf.linear %x, %w, %b
      : (tensor<1x7x16xf32>, tensor<48x16xf32>, tensor<48xf32>) -> tensor<1x7x48xf32>
      loc(fused["l0.attn.q", "l0.attn.k", "l0.attn.v"])
  %q, %k, %v = xf.split %f : tensor<1x7x48xf32> -> tensor<1x7x16xf32>, tensor<1x7x16xf32>, tensor<1x7x16xf32>
      loc(fused["l0.attn.q", "l0.attn.k", "l0.attn.v"])
  %a = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.35 : f64}
      : (tensor<1x7x16xf32>, tensor<1x7x16xf32>, tensor<1x7x16xf32>) -> tensor<1x7x16xf32>
      loc("l0.attn.core")
  %y = xf.linear %a, %w1 residual(%x) {activation = #xf<activation gelu>}
      : (tensor<1x7x16xf32>, tensor<16x16xf32>, tensor<1x7x16xf32>) -> tensor<1x7x16xf32>
      loc(fused["l0.ffn.fc1", "l0.ffn.act", "l0.ffn.residual"])
  return %y : tensor<1x7x16xf32>
}
}

// -----

// Unnamed ops are kernels too, named after the op; the FLOPs of a fused
// attention count only the blocks it visits (causal: 3 of 4 here).

// CHECK-LABEL: module attributes {xf.kernels = [
// CHECK-SAME: flops = 896 : i64, id = 0 : i64, kind = "layer_norm", name = "layer_norm", nodes = [], symbol = "xf_k0_layer_norm"
// 2*8*8 scores * 37 FLOPs * 3/4.
// CHECK-SAME: flops = 3552 : i64, id = 1 : i64, kind = "attention(fused, causal)"
module {
func.func @unnamed(%x: tensor<1x8x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<1x8x16xf32> {
  %n = xf.layer_norm %x, %g, %b {epsilon = 1.0e-5 : f64}
      : (tensor<1x8x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<1x8x16xf32>
  %a = xf.attention %n, %n, %n {num_heads = 2 : i64, scale = 0.35 : f64, causal,
      xf.attention_kernel = {block_k = 4 : i64, block_q = 4 : i64, kind = "flash",
                             masked_blocks = 2 : i64, pattern = "causal", visited_blocks = 3 : i64}}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return %a : tensor<1x8x16xf32>
}
}

// -----

// Transformer-XL: the memory concatenation is a kernel of its own (no
// arithmetic; 512 + 448 bytes read, 960 written); relative attention, 2
// heads of 8, 7 queries, 15 keys: R W_kR^T is 15*16 elements of 2*16
// FLOPs (7680), q + u and q + v 2*7*16 (224), and 2*7*15 = 210 scores of
// 4*8 + 2*8 + 6 FLOPs (11340). Bytes: q 448, k 960, v 960, W_kR 1024, u
// 64, v 64, memory lengths 4, result 448 (3972), plus content scores,
// position scores and probabilities written and read once (3*2*210*4).
// The record also names the memory length (8) and keys per query (15).

// CHECK-LABEL: module attributes {xf.kernels = [
// CHECK-SAME: {bytes = 1920 : i64, flops = 0 : i64, id = 0 : i64, kind = "sequence_concat", name = "sequence_concat"
// CHECK-SAME: {bytes = 9012 : i64, flops = 19244 : i64, id = 1 : i64, keys_per_query = 15 : i64, kind = "attention(relative, unfused)", memory_length = 8 : i64, name = "l0.attn.core"
module {
func.func @relative(%x: tensor<1x7x16xf32>, %mem: tensor<1x8x16xf32>,
                    %wr: tensor<16x16xf32>, %u: tensor<2x8xf32>,
                    %len: tensor<1xi32>) -> tensor<1x7x16xf32> {
  %kv = xf.sequence_concat %mem, %x
      : (tensor<1x8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x15x16xf32>
  %o = xf.relative_attention %x, %kv, %kv, position(%wr), u(%u), v(%u)
      memory_lengths(%len) {num_heads = 2 : i64, scale = 0.35 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>,
         tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi32>)
      -> tensor<1x7x16xf32> loc("l0.attn.core")
  return %o : tensor<1x7x16xf32>
}
}

// -----

// Linformer: each projection is a kernel (2 k n C multiply-adds per batch
// item, plus n C selects with key lengths); the attention over the k = 4
// projected rows is the Linformer kernel, compared with dense attention
// over the n = 7 keys and counting the projections' FLOPs with it.

// CHECK-LABEL: module attributes {xf.kernels = [
// Keys: 2 * (2*4*7*16 + 7*16) FLOPs; x, E, lengths, result: (896 + 112 + 8
// + 512) bytes.
// CHECK-SAME: {bytes = 1528 : i64, flops = 2016 : i64, id = 0 : i64, kind = "linformer_projection", name = "l0.attn.linformer_e"
// Values, no key lengths: 2 * 2*4*7*16.
// CHECK-SAME: {bytes = 1520 : i64, flops = 1792 : i64, id = 1 : i64, kind = "linformer_projection", name = "l0.attn.linformer_f"
// 2*2*7*4 scores * (4*8 + 5); dense: 2*2*7*7 * 37; the scores written and
// read once: 896 + 512 + 512 + 896 + 2*112*4 bytes.
// CHECK-SAME: {allowed_fraction = 1.000000e+00 : f64, bytes = 3712 : i64, dense_flops = 7252 : i64, flops = 4144 : i64, id = 2 : i64, kind = "attention(unfused, linformer)", name = "l0.attn.core", nodes = ["l0.attn.core"], pattern = "linformer(k = 4, sharing = headwise, seed = 0)", projection_flops = 3808 : i64
module {
func.func @linformer(%q: tensor<2x7x16xf32>, %k: tensor<2x7x16xf32>,
    %v: tensor<2x7x16xf32>, %e: tensor<4x7xf32>, %f: tensor<4x7xf32>,
    %len: tensor<2xi32>) -> tensor<2x7x16xf32> {
  %kp = xf.linformer_projection %k, %e key_lengths(%len) {num_heads = 2 : i64,
      pattern = #xf.pattern<"linformer(k = 4, sharing = headwise, seed = 0)">}
      : (tensor<2x7x16xf32>, tensor<4x7xf32>, tensor<2xi32>) -> tensor<2x4x16xf32>
      loc("l0.attn.linformer_e")
  %vp = xf.linformer_projection %v, %f {num_heads = 2 : i64}
      : (tensor<2x7x16xf32>, tensor<4x7xf32>) -> tensor<2x4x16xf32>
      loc("l0.attn.linformer_f")
  %a = xf.attention %q, %kp, %vp {num_heads = 2 : i64, scale = 0.35 : f64}
      : (tensor<2x7x16xf32>, tensor<2x4x16xf32>, tensor<2x4x16xf32>) -> tensor<2x7x16xf32>
      loc("l0.attn.core")
  return %a : tensor<2x7x16xf32>
}
}
