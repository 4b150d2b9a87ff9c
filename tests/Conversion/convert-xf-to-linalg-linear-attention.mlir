// The kernelized attention lowering of convert-xf-to-linalg
// (LinearAttention.cpp): xf.attention with a `linear` or `performer`
// pattern. A forall over (batch, head) with the state S as a second shared
// output, chunk loops carrying S, z and their scratch tiles, every product a
// matmul-form linalg.generic on static tiles, and no [Sq, Sk] tensor.
// RUN: xfc-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(convert-xf-to-linalg,canonicalize,cse))' | FileCheck %s

// Not causal, 130 positions (two 64-position chunks and a shifted tail):
// one loop sums S and z over the key chunks, a second one writes the
// query chunks; phi(K) is built transposed ([D, C]).

// CHECK-LABEL: func.func @linear
// CHECK-NOT: 130x130
// CHECK: %[[STATE:.*]] = tensor.empty() : tensor<2x2x64x64xf32>
// CHECK: %[[R:.*]]:2 = scf.forall (%[[B:.*]], %[[H:.*]]) in (2, 2) shared_outs(%[[OUT:.*]] = %{{.*}}, %[[S:.*]] = %[[STATE]])
// CHECK: %[[KEYS:.*]]:3 = scf.for {{.*}} = %c0 to %c3 step %c1 iter_args({{.*}}) -> (tensor<64x64xf32>, tensor<64xf32>, tensor<64x64xf32>)
// CHECK: arith.minsi %{{.*}}, %c66
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]
// CHECK: scf.for {{.*}} = %c0 to %c3 step %c1 iter_args({{.*}}) -> (tensor<130x64xf32>, tensor<64x64xf32>, tensor<64x64xf32>, tensor<64xf32>)
// CHECK: arith.divf
// CHECK: scf.forall.in_parallel
// CHECK: bufferization.dealloc_tensor %[[R]]#1
func.func @linear(%q: tensor<2x130x128xf32>, %k: tensor<2x130x128xf32>,
                  %v: tensor<2x130x128xf32>) -> tensor<2x130x128xf32> {
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.125 : f64,
                                pattern = #xf.pattern<"linear">}
      : (tensor<2x130x128xf32>, tensor<2x130x128xf32>, tensor<2x130x128xf32>)
      -> tensor<2x130x128xf32>
  return %0 : tensor<2x130x128xf32>
}

// -----

// Causal: one loop over the chunks (77 positions: two chunks of 64, the
// second shifted back to 13), the intra-chunk scores [C, C] masked above
// the diagonal, then the state. (The unit batch folds away.)

// CHECK-LABEL: func.func @linear_causal
// CHECK-NOT: 77x77
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs({{.*}}) -> (tensor<1x77x32xf32>, tensor<1x2x16x16xf32>)
// CHECK: scf.for {{.*}} = %c0 to %c2 step %c1 iter_args({{.*}}) -> (tensor<16x16xf32>, tensor<16xf32>, tensor<77x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>, tensor<64x64xf32>, tensor<64x16xf32>, tensor<64xf32>)
// CHECK: arith.minsi %{{.*}}, %c13
// CHECK: %[[ABOVE:.*]] = arith.cmpi sgt
// CHECK: arith.select %[[ABOVE]], %cst
func.func @linear_causal(%q: tensor<1x77x32xf32>) -> tensor<1x77x32xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
                                pattern = #xf.pattern<"linear(causal)">}
      : (tensor<1x77x32xf32>, tensor<1x77x32xf32>, tensor<1x77x32xf32>)
      -> tensor<1x77x32xf32>
  return %0 : tensor<1x77x32xf32>
}

// -----

// Performer: W^T a [D, m] constant, a first pass over the keys for the
// single key stabilizer (a max into a 0-d tensor), exponentials as plain
// arithmetic (2^n from the exponent bits; no math.exp, so no libm call that
// would keep the feature loops from being vectorized).

// CHECK-LABEL: func.func @performer
// CHECK: arith.constant dense<{{.*}}> : tensor<16x32xf32>
// CHECK: scf.forall
// CHECK: scf.for {{.*}} -> (tensor<f32>, tensor<64x32xf32>, tensor<64xf32>, tensor<64xf32>)
// CHECK: arith.maximumf
// CHECK: tensor.extract %{{.*}}[] : tensor<f32>
// CHECK-NOT: math.exp
// CHECK: arith.shli
// CHECK: arith.bitcast {{.*}} : i32 to f32
func.func @performer(%q: tensor<1x77x32xf32>) -> tensor<1x77x32xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
                                pattern = #xf.pattern<"performer(m = 32, seed = 1, causal)">}
      : (tensor<1x77x32xf32>, tensor<1x77x32xf32>, tensor<1x77x32xf32>)
      -> tensor<1x77x32xf32>
  return %0 : tensor<1x77x32xf32>
}

// -----

// Causal prefix sums run over the same positions for queries and keys.

func.func @causal_cross(%q: tensor<1x7x32xf32>, %k: tensor<1x9x32xf32>)
    -> tensor<1x7x32xf32> {
  // expected-error @+2 {{failed to legalize operation 'xf.attention'}}
  // expected-error @+1 {{'xf.attention' op has causal attention family 'linear', which needs as many queries as keys (prefix sums over the same positions), found 7 queries and 9 keys}}
  %0 = xf.attention %q, %k, %k {num_heads = 2 : i64, scale = 0.25 : f64,
                                pattern = #xf.pattern<"linear(causal)">}
      : (tensor<1x7x32xf32>, tensor<1x9x32xf32>, tensor<1x9x32xf32>)
      -> tensor<1x7x32xf32>
  return %0 : tensor<1x7x32xf32>
}

// -----

// More features than a chunk's stack tile allows.

func.func @too_many_features(%q: tensor<1x7x32xf32>) -> tensor<1x7x32xf32> {
  // expected-error @+2 {{failed to legalize operation 'xf.attention'}}
  // expected-error @+1 {{'xf.attention' op has attention family 'performer(m = 4096, seed = 0)' with 4096 features per position, more than this lowering supports (at most 2048 features, and features x head_dim at most 65536)}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
                                pattern = #xf.pattern<"performer(m = 4096)">}
      : (tensor<1x7x32xf32>, tensor<1x7x32xf32>, tensor<1x7x32xf32>)
      -> tensor<1x7x32xf32>
  return %0 : tensor<1x7x32xf32>
}
