// RUN: xfc-opt %s -split-input-file -xf-fuse-qkv | FileCheck %s

// Self-attention: Q, K and V read %x; their weights and biases become one
// derived argument each (inserted where Q's was, with its attributes), the
// sources leave the signature, and xf.split hands out the columns.

// CHECK-LABEL: func.func @self_attention
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32> {xf.input = "x"},
// CHECK-SAME: %[[W:[^:]*]]: tensor<48x16xf32> {bufferization.writable = false, xf.weight = "attn.qkv.weight", xf.weight_concat = ["attn.q.weight", "attn.k.weight", "attn.v.weight"]},
// CHECK-SAME: %[[B:[^:]*]]: tensor<48xf32> {xf.weight = "attn.qkv.bias", xf.weight_concat = ["attn.q.bias", "attn.k.bias", "attn.v.bias"]},
// CHECK-SAME: %[[WO:[^:]*]]: tensor<16x16xf32> {xf.weight = "attn.out.weight"}) -> tensor<2x7x16xf32>
// CHECK-NEXT: %[[F:.*]] = xf.linear %[[X]], %[[W]], %[[B]] : (tensor<2x7x16xf32>, tensor<48x16xf32>, tensor<48xf32>) -> tensor<2x7x48xf32>
// CHECK-NEXT: %[[S:.*]]:3 = xf.split %[[F]] : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>
// CHECK-NEXT: %[[A:.*]] = xf.attention %[[S]]#0, %[[S]]#1, %[[S]]#2
// CHECK-NEXT: xf.linear %[[A]], %[[WO]] :
func.func @self_attention(%x: tensor<2x7x16xf32> {xf.input = "x"},
    %wq: tensor<16x16xf32> {xf.weight = "attn.q.weight", bufferization.writable = false},
    %bq: tensor<16xf32> {xf.weight = "attn.q.bias"},
    %wk: tensor<16x16xf32> {xf.weight = "attn.k.weight"},
    %bk: tensor<16xf32> {xf.weight = "attn.k.bias"},
    %wv: tensor<16x16xf32> {xf.weight = "attn.v.weight"},
    %bv: tensor<16xf32> {xf.weight = "attn.v.bias"},
    %wo: tensor<16x16xf32> {xf.weight = "attn.out.weight"}) -> tensor<2x7x16xf32> {
  %q = xf.linear %x, %wq, %bq : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %k = xf.linear %x, %wk, %bk : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %v = xf.linear %x, %wv, %bv : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %a = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  %o = xf.linear %a, %wo : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %o : tensor<2x7x16xf32>
}

// -----

// Cross-attention without biases: only K and V read the memory, so only
// they are fused; Q keeps its weight. The memory's second consumer (the
// next layer's K and V, another attention op) forms its own group.

// CHECK-LABEL: func.func @cross_attention
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[M:[^:]*]]: tensor<2x5x24xf32>, %[[WQ:[^:]*]]: tensor<16x16xf32> {xf.weight = "l0.q.weight"},
// CHECK-SAME: %[[KV0:[^:]*]]: tensor<32x24xf32> {xf.weight = "l0.kv.weight", xf.weight_concat = ["l0.k.weight", "l0.v.weight"]},
// CHECK-SAME: %[[KV1:[^:]*]]: tensor<32x24xf32> {xf.weight = "l1.kv.weight", xf.weight_concat = ["l1.k.weight", "l1.v.weight"]})
// CHECK: %[[Q:.*]] = xf.linear %[[X]], %[[WQ]] :
// CHECK: %[[F0:.*]] = xf.linear %[[M]], %[[KV0]] : (tensor<2x5x24xf32>, tensor<32x24xf32>) -> tensor<2x5x32xf32>
// CHECK: %[[S0:.*]]:2 = xf.split %[[F0]]
// CHECK: xf.attention %[[Q]], %[[S0]]#0, %[[S0]]#1
// CHECK: %[[F1:.*]] = xf.linear %[[M]], %[[KV1]]
// CHECK: %[[S1:.*]]:2 = xf.split %[[F1]]
// CHECK: xf.attention %{{.*}}, %[[S1]]#0, %[[S1]]#1
func.func @cross_attention(%x: tensor<2x7x16xf32>, %m: tensor<2x5x24xf32>,
    %wq: tensor<16x16xf32> {xf.weight = "l0.q.weight"},
    %wk: tensor<16x24xf32> {xf.weight = "l0.k.weight"},
    %wv: tensor<16x24xf32> {xf.weight = "l0.v.weight"},
    %wk1: tensor<16x24xf32> {xf.weight = "l1.k.weight"},
    %wv1: tensor<16x24xf32> {xf.weight = "l1.v.weight"}) -> tensor<2x7x16xf32> {
  %q = xf.linear %x, %wq : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %k = xf.linear %m, %wk : (tensor<2x5x24xf32>, tensor<16x24xf32>) -> tensor<2x5x16xf32>
  %v = xf.linear %m, %wv : (tensor<2x5x24xf32>, tensor<16x24xf32>) -> tensor<2x5x16xf32>
  %a = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x7x16xf32>
  %k1 = xf.linear %m, %wk1 : (tensor<2x5x24xf32>, tensor<16x24xf32>) -> tensor<2x5x16xf32>
  %v1 = xf.linear %m, %wv1 : (tensor<2x5x24xf32>, tensor<16x24xf32>) -> tensor<2x5x16xf32>
  %b = xf.attention %a, %k1, %v1 {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x7x16xf32>
  return %b : tensor<2x7x16xf32>
}

// -----

// Not fused: Q has a bias and K, V do not (K and V still fuse); a weight
// that is not an xf.weight argument; a weight already stored [in, out];
// a projection whose result has two users. Names that share no dotted
// structure are joined with "+".

// CHECK-LABEL: func.func @partial
// CHECK-SAME: %{{[^:]*}}: tensor<16x16xf32> {xf.weight = "q.weight"}, %{{[^:]*}}: tensor<16xf32> {xf.weight = "q.bias"}, %{{[^:]*}}: tensor<32x16xf32> {xf.weight = "key+value", xf.weight_concat = ["key", "value"]}, %{{[^:]*}}: tensor<16x16xf32>)
// CHECK: xf.linear %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>)
// CHECK: xf.split
// CHECK-LABEL: func.func @not_candidates
// CHECK-NOT: xf.split
// CHECK-LABEL: func.func @called
// CHECK-NOT: xf.split
// CHECK: return
func.func @partial(%x: tensor<2x7x16xf32>,
    %wq: tensor<16x16xf32> {xf.weight = "q.weight"},
    %bq: tensor<16xf32> {xf.weight = "q.bias"},
    %wk: tensor<16x16xf32> {xf.weight = "key"},
    %wv: tensor<16x16xf32> {xf.weight = "value"},
    %plain: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  %q = xf.linear %x, %wq, %bq : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %k = xf.linear %x, %wk : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %v = xf.linear %x, %wv : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %a = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %a : tensor<2x7x16xf32>
}

func.func @not_candidates(%x: tensor<2x7x16xf32>,
    %wq: tensor<16x16xf32>,
    %wk: tensor<16x16xf32> {xf.weight = "k.weight", xf.weight_transform = "transpose"},
    %wv: tensor<16x16xf32> {xf.weight = "v.weight"},
    %wo: tensor<16x16xf32> {xf.weight = "o.weight"}) -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %q = xf.linear %x, %wq : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %k = xf.linear %x, %wk {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %v = xf.linear %x, %wv : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %o = xf.linear %x, %wo : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %a = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  %b = xf.attention %o, %o, %a {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %a, %b : tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// A called function keeps its signature.
func.func @called(%x: tensor<2x7x16xf32>,
    %wk: tensor<16x16xf32> {xf.weight = "k.weight"},
    %wv: tensor<16x16xf32> {xf.weight = "v.weight"}) -> tensor<2x7x16xf32> {
  %k = xf.linear %x, %wk : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %v = xf.linear %x, %wv : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %a = xf.attention %x, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %a : tensor<2x7x16xf32>
}

func.func @caller(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  %0 = func.call @called(%x, %w, %w) : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// With a fusion plan on the module, only the groups it lists are fused:
// layer l1's projections are, layer l0's keep their own weights.

// CHECK-LABEL: func.func @planned
// CHECK-SAME: xf.weight = "l0.q.weight"
// CHECK-SAME: xf.weight = "l0.k.weight"
// CHECK-SAME: xf.weight = "l0.v.weight"
// CHECK-SAME: xf.weight = "l1.qkv.weight"
// CHECK-COUNT-3: xf.linear %{{.*}} : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
// CHECK: xf.attention
// CHECK: xf.linear {{.*}} -> tensor<2x7x48xf32>
// CHECK-NEXT: xf.split
module attributes {xf.fusion_plan = [{fusion = "qkv", nodes = ["l1.q", "l1.k", "l1.v"]}]} {
func.func @planned(%x: tensor<2x7x16xf32> {xf.input = "x"},
    %wq0: tensor<16x16xf32> {xf.weight = "l0.q.weight"},
    %wk0: tensor<16x16xf32> {xf.weight = "l0.k.weight"},
    %wv0: tensor<16x16xf32> {xf.weight = "l0.v.weight"},
    %wq1: tensor<16x16xf32> {xf.weight = "l1.q.weight"},
    %wk1: tensor<16x16xf32> {xf.weight = "l1.k.weight"},
    %wv1: tensor<16x16xf32> {xf.weight = "l1.v.weight"}) -> tensor<2x7x16xf32> {
  %q0 = xf.linear %x, %wq0 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l0.q")
  %k0 = xf.linear %x, %wk0 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l0.k")
  %v0 = xf.linear %x, %wv0 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l0.v")
  %a0 = xf.attention %q0, %k0, %v0 {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32> loc("l0.core")
  %q1 = xf.linear %a0, %wq1 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l1.q")
  %k1 = xf.linear %a0, %wk1 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l1.k")
  %v1 = xf.linear %a0, %wv1 : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32> loc("l1.v")
  %a1 = xf.attention %q1, %k1, %v1 {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32> loc("l1.core")
  return %a1 : tensor<2x7x16xf32>
}
}
