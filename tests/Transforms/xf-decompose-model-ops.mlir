// RUN: xfc-opt %s -split-input-file -xf-decompose-model-ops | FileCheck %s

// Self-attention with every bias, key lengths and causal: three projections
// of the same input, the attention core with the default scale
// 1/sqrt(16/2), then the output projection.

// CHECK-LABEL: func.func @self_attention
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[WQ:[^:]*]]: tensor<16x16xf32>, %[[BQ:[^:]*]]: tensor<16xf32>, %[[WK:[^:]*]]: tensor<16x16xf32>, %[[BK:[^:]*]]: tensor<16xf32>, %[[WV:[^:]*]]: tensor<16x16xf32>, %[[BV:[^:]*]]: tensor<16xf32>, %[[WO:[^:]*]]: tensor<16x16xf32>, %[[BO:[^:]*]]: tensor<16xf32>, %[[LEN:[^:]*]]: tensor<2xi32>)
// CHECK-NOT: xf.multi_head_attention
// CHECK-DAG: %[[Q:.*]] = xf.linear %[[X]], %[[WQ]], %[[BQ]] : (tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
// CHECK-DAG: %[[K:.*]] = xf.linear %[[X]], %[[WK]], %[[BK]] :
// CHECK-DAG: %[[V:.*]] = xf.linear %[[X]], %[[WV]], %[[BV]] :
// CHECK: %[[A:.*]] = xf.attention %[[Q]], %[[K]], %[[V]] key_lengths(%[[LEN]]) {causal, num_heads = 2 : i64, scale = 0.35355339059327373 : f64}
// CHECK-SAME: -> tensor<2x7x16xf32>
// CHECK: %[[O:.*]] = xf.linear %[[A]], %[[WO]], %[[BO]] :
// CHECK-NOT: xf.multi_head_attention
// CHECK: return %[[O]]
func.func @self_attention(%x: tensor<2x7x16xf32>,
    %wq: tensor<16x16xf32>, %bq: tensor<16xf32>,
    %wk: tensor<16x16xf32>, %bk: tensor<16xf32>,
    %wv: tensor<16x16xf32>, %bv: tensor<16xf32>,
    %wo: tensor<16x16xf32>, %bo: tensor<16xf32>,
    %len: tensor<2xi32>) -> tensor<2x7x16xf32> {
  %0 = xf.multi_head_attention %x, %x, q(%wq, %bq), k(%wk, %bk),
      v(%wv, %bv), out(%wo, %bo) key_lengths(%len)
      {num_heads = 2 : i64, causal}
      : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>,
         tensor<16xf32>, tensor<16x16xf32>, tensor<16xf32>,
         tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>,
         tensor<16xf32>, tensor<2xi32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Cross-attention without biases: K and V come from the memory (width 8,
// length 5); an explicit scale is kept; no causal, no key lengths.

// CHECK-LABEL: func.func @cross_attention
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[M:[^:]*]]: tensor<2x5x8xf32>, %[[WQ:[^:]*]]: tensor<16x16xf32>, %[[WK:[^:]*]]: tensor<16x8xf32>, %[[WV:[^:]*]]: tensor<16x8xf32>, %[[WO:[^:]*]]: tensor<16x16xf32>)
// CHECK-DAG: %[[Q:.*]] = xf.linear %[[X]], %[[WQ]] : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
// CHECK-DAG: %[[K:.*]] = xf.linear %[[M]], %[[WK]] : (tensor<2x5x8xf32>, tensor<16x8xf32>) -> tensor<2x5x16xf32>
// CHECK-DAG: %[[V:.*]] = xf.linear %[[M]], %[[WV]] : (tensor<2x5x8xf32>, tensor<16x8xf32>) -> tensor<2x5x16xf32>
// CHECK: %[[A:.*]] = xf.attention %[[Q]], %[[K]], %[[V]] {num_heads = 4 : i64, scale = 1.250000e-01 : f64} :
// CHECK: %[[O:.*]] = xf.linear %[[A]], %[[WO]] :
// CHECK: return %[[O]]
func.func @cross_attention(%x: tensor<2x7x16xf32>, %m: tensor<2x5x8xf32>,
    %wq: tensor<16x16xf32>, %wk: tensor<16x8xf32>, %wv: tensor<16x8xf32>,
    %wo: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.multi_head_attention %x, %m, q(%wq), k(%wk), v(%wv), out(%wo)
      {num_heads = 4 : i64, scale = 0.125 : f64}
      : (tensor<2x7x16xf32>, tensor<2x5x8xf32>, tensor<16x16xf32>,
         tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>)
      -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @feed_forward
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W1:[^:]*]]: tensor<64x16xf32>, %[[B1:[^:]*]]: tensor<64xf32>, %[[W2:[^:]*]]: tensor<16x64xf32>)
// CHECK-NOT: xf.feed_forward
// CHECK: %[[H:.*]] = xf.linear %[[X]], %[[W1]], %[[B1]] : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<64xf32>) -> tensor<2x7x64xf32>
// CHECK: %[[G:.*]] = xf.activation gelu_tanh %[[H]] : tensor<2x7x64xf32>
// CHECK: %[[Y:.*]] = xf.linear %[[G]], %[[W2]] : (tensor<2x7x64xf32>, tensor<16x64xf32>) -> tensor<2x7x16xf32>
// CHECK: return %[[Y]]
func.func @feed_forward(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>,
                        %b1: tensor<64xf32>, %w2: tensor<16x64xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.feed_forward gelu_tanh %x, fc1(%w1, %b1), fc2(%w2)
      : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<64xf32>,
         tensor<16x64xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Fine-grained ops are left alone.

// CHECK-LABEL: func.func @untouched
// CHECK: %[[L:.*]] = xf.layer_norm
// CHECK: xf.attention %[[L]], %[[L]], %[[L]] {num_heads = 2 : i64, scale = 5.000000e-01 : f64}
func.func @untouched(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>)
      -> tensor<2x7x16xf32>
  %1 = xf.attention %0, %0, %0 {num_heads = 2 : i64, scale = 0.5 : f64}
      : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>)
      -> tensor<2x7x16xf32>
  return %1 : tensor<2x7x16xf32>
}
