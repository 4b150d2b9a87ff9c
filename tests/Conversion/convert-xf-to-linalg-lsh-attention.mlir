// The LSH attention lowering of convert-xf-to-linalg (LshAttention.cpp),
// for xf.attention ops whose pattern is lsh(...).
// RUN: xfc-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(convert-xf-to-linalg,canonicalize,cse))' | FileCheck %s

// Two kernels over (batch, head): hashing and sorting into the integer
// state [B, H, 3 rounds, L] (buckets, permutations, slots) and the float
// state [B, H, 3, L] (m, l, inverse norms), then the rounds' chunks; the
// rotations are one constant of rounds * buckets/2 rows of d. The key
// operand is not read, and no L x L tensor appears.

// CHECK-LABEL: func.func @lsh
// CHECK-SAME: (%[[Q:.*]]: tensor<2x77x128xf32>, %[[K:.*]]: tensor<2x77x128xf32>, %[[V:.*]]: tensor<2x77x128xf32>)
// CHECK-NOT: 77x77
// CHECK: arith.constant dense<{{.*}}> : tensor<8x64xf32>
// CHECK: %[[HASH:.*]]:2 = scf.forall (%{{.*}}, %{{.*}}) in (2, 2) shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %{{.*}}) -> (tensor<2x2x6x77xi32>, tensor<2x2x3x77xf32>)
// Hashing: 64-row blocks, the argmax over (round, row, bucket/2).
// CHECK: scf.for {{.*}} -> (tensor<6x77xi32>)
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%{{.*}} : tensor<64x2x4xf32>) outs(%{{.*}}, %{{.*}} : tensor<2x64xf32>, tensor<2x64xi32>)
// The counting sort: histogram, prefix sum, scatter.
// CHECK: scf.for {{.*}} -> (tensor<6x77xi32>)
// CHECK: scf.for %{{.*}} = %c0 to %c77 {{.*}} -> (tensor<8xi32>)
// CHECK: scf.for %{{.*}} = %c0 to %c8 {{.*}} -> (tensor<8xi32>, i32)
// CHECK: scf.for %{{.*}} = %c0 to %c77 {{.*}} -> (tensor<6x77xi32>, tensor<8xi32>)
// CHECK: %[[ATT:.*]]:2 = scf.forall (%{{.*}}, %{{.*}}) in (2, 2) shared_outs(%{{.*}} = %{{.*}}, %{{.*}} = %[[HASH]]#1) -> (tensor<2x77x128xf32>, tensor<2x2x3x77xf32>)
// CHECK: tensor.extract_slice %[[HASH]]#0
// Rounds, then ceil(77 / 8) = 10 chunks of 8 queries by 16 keys.
// CHECK: scf.for %{{.*}} = %c0 to %c2 {{.*}} -> (tensor<3x77xf32>, tensor<77x64xf32>)
// CHECK: scf.for %{{.*}} = %c0 to %c10 {{.*}} -> (tensor<3x77xf32>, tensor<77x64xf32>)
// CHECK: } -> tensor<8x16xf32>
// log N_ij with two rounds.
// CHECK: math.log
// CHECK: math.exp
// CHECK: scf.forall.in_parallel
// The normalization and the self rule over the whole output.
// CHECK: tensor.expand_shape %[[ATT]]#0
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<2x77x2x64xf32>) outs(%{{.*}} : tensor<2x77x2x64xf32>)
// CHECK: tensor.extract %[[ATT]]#1
// CHECK: tensor.collapse_shape
// CHECK-NOT: %[[K]]
func.func @lsh(%q: tensor<2x77x128xf32>, %k: tensor<2x77x128xf32>,
               %v: tensor<2x77x128xf32>) -> tensor<2x77x128xf32> {
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.125 : f64,
      pattern = #xf.pattern<"lsh(buckets = 8, hashes = 2, chunk = 8, seed = 0)">}
      : (tensor<2x77x128xf32>, tensor<2x77x128xf32>, tensor<2x77x128xf32>)
      -> tensor<2x77x128xf32>
  return %0 : tensor<2x77x128xf32>
}

// -----

// One round: no log N; causal compares the positions.

// CHECK-LABEL: func.func @lsh_causal_one_round
// CHECK-NOT: math.log
// CHECK: arith.cmpi sle
// CHECK: return
func.func @lsh_causal_one_round(%x: tensor<1x7x16xf32>) -> tensor<1x7x16xf32> {
  %0 = xf.attention %x, %x, %x {num_heads = 1 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"lsh(buckets = 4, hashes = 1, chunk = 4, seed = 0, causal)">}
      : (tensor<1x7x16xf32>, tensor<1x7x16xf32>, tensor<1x7x16xf32>)
      -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @lsh_cross(%q: tensor<1x7x16xf32>, %kv: tensor<1x9x16xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+2 {{failed to legalize operation 'xf.attention'}}
  // expected-error @+1 {{'xf.attention' op has attention family 'lsh', which is self-attention with shared queries and keys: expected as many keys as queries, found 7 queries and 9 keys}}
  %0 = xf.attention %q, %kv, %kv {num_heads = 1 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"lsh(buckets = 4, hashes = 1, chunk = 4, seed = 0)">}
      : (tensor<1x7x16xf32>, tensor<1x9x16xf32>, tensor<1x9x16xf32>)
      -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @lsh_chunk_too_large(%x: tensor<1x512x64xf32>) -> tensor<1x512x64xf32> {
  // expected-error @+2 {{failed to legalize operation 'xf.attention'}}
  // expected-error @+1 {{'xf.attention' op has attention family 'lsh' with chunk 256: expected chunk tiles (chunk x 2 max(chunk, head_dim) floats) of at most 65536 bytes for a thread's stack, found 524288 (use a smaller chunk)}}
  %0 = xf.attention %x, %x, %x {num_heads = 1 : i64, scale = 0.125 : f64,
      pattern = #xf.pattern<"lsh(buckets = 4, hashes = 1, chunk = 256, seed = 0)">}
      : (tensor<1x512x64xf32>, tensor<1x512x64xf32>, tensor<1x512x64xf32>)
      -> tensor<1x512x64xf32>
  return %0 : tensor<1x512x64xf32>
}
