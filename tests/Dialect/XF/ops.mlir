// Round trip of every xf op: parse, print, parse again, in the custom form
// and in the generic form.
// RUN: xfc-opt %s -split-input-file | xfc-opt -split-input-file | FileCheck %s
// RUN: xfc-opt %s -split-input-file --mlir-print-op-generic | xfc-opt -split-input-file | FileCheck %s
// RUN: xfc-opt %s -split-input-file --mlir-print-op-generic | FileCheck %s --check-prefix=GENERIC

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS:.*]]: tensor<2x7xi32>, %[[TABLE:.*]]: tensor<64x16xf32>)
// CHECK: %[[E:.*]] = xf.embedding %[[IDS]], %[[TABLE]] :
// CHECK-SAME: (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
// CHECK: xf.embedding %[[IDS]], %[[TABLE]] {scale = 4.000000e+00 : f64}
// GENERIC-LABEL: sym_name = "embedding"
// GENERIC: "xf.embedding"(%{{.*}}, %{{.*}}) <{scale = 1.000000e+00 : f64}>
// GENERIC: "xf.embedding"(%{{.*}}, %{{.*}}) <{scale = 4.000000e+00 : f64}>
func.func @embedding(%ids: tensor<2x7xi32>, %table: tensor<64x16xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.embedding %ids, %table
      : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  %1 = xf.embedding %ids, %table {scale = 4.0 : f64}
      : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0, %1 : tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @positional_encoding
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[T:.*]]: tensor<32x16xf32>, %[[P:.*]]: tensor<2x7xi32>)
// CHECK: xf.positional_encoding sinusoidal %[[X]] : (tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
// CHECK: xf.positional_encoding learned %[[X]], %[[T]] : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
// GENERIC-LABEL: sym_name = "positional_encoding"
// CHECK: xf.positional_encoding sinusoidal %[[X]] positions %[[P]] : (tensor<2x7x16xf32>, tensor<2x7xi32>) -> tensor<2x7x16xf32>
// GENERIC: "xf.positional_encoding"(%{{.*}}) <{kind = #xf<positional sinusoidal>, operandSegmentSizes = array<i32: 1, 0, 0>}>
// GENERIC: "xf.positional_encoding"(%{{.*}}, %{{.*}}) <{kind = #xf<positional learned>, operandSegmentSizes = array<i32: 1, 1, 0>}>
// GENERIC: "xf.positional_encoding"(%{{.*}}, %{{.*}}) <{kind = #xf<positional sinusoidal>, operandSegmentSizes = array<i32: 1, 0, 1>}>
func.func @positional_encoding(%x: tensor<2x7x16xf32>, %t: tensor<32x16xf32>,
                               %p: tensor<2x7xi32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.positional_encoding sinusoidal %x
      : (tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  %1 = xf.positional_encoding learned %x, %t
      : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
  %2 = xf.positional_encoding sinusoidal %x positions %p
      : (tensor<2x7x16xf32>, tensor<2x7xi32>) -> tensor<2x7x16xf32>
  return %0, %1, %2 : tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[G:.*]]: tensor<16xf32>, %[[B:.*]]: tensor<16xf32>)
// CHECK: xf.layer_norm %[[X]], %[[G]], %[[B]] {epsilon = 1.000000e-05 : f64}
// CHECK-SAME: : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
// GENERIC-LABEL: sym_name = "layer_norm"
// GENERIC: "xf.layer_norm"(%{{.*}}, %{{.*}}, %{{.*}}) <{epsilon = 1.000000e-05 : f64}>
func.func @layer_norm(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>,
                      %b: tensor<16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>)
      -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @add_softmax
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[Y:.*]]: tensor<2x7x16xf32>)
// CHECK: %[[S:.*]] = xf.add %[[X]], %[[Y]] : tensor<2x7x16xf32>
// CHECK: xf.softmax %[[S]] : tensor<2x7x16xf32>
// GENERIC-LABEL: sym_name = "add_softmax"
// GENERIC: "xf.add"(%{{.*}}, %{{.*}}) : (tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
// GENERIC: "xf.softmax"(%{{.*}}) : (tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
func.func @add_softmax(%x: tensor<2x7x16xf32>, %y: tensor<2x7x16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.add %x, %y : tensor<2x7x16xf32>
  %1 = xf.softmax %0 : tensor<2x7x16xf32>
  return %1 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @activation
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>)
// CHECK: %[[R:.*]] = xf.activation relu %[[X]] : tensor<2x7x16xf32>
// CHECK: %[[G:.*]] = xf.activation gelu %[[R]] : tensor<2x7x16xf32>
// CHECK: xf.activation gelu_tanh %[[G]] : tensor<2x7x16xf32>
// GENERIC-LABEL: sym_name = "activation"
// GENERIC: <{kind = #xf<activation relu>}>
// GENERIC: <{kind = #xf<activation gelu>}>
// GENERIC: <{kind = #xf<activation gelu_tanh>}>
func.func @activation(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.activation relu %x : tensor<2x7x16xf32>
  %1 = xf.activation gelu %0 : tensor<2x7x16xf32>
  %2 = xf.activation gelu_tanh %1 : tensor<2x7x16xf32>
  return %2 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[W:.*]]: tensor<32x16xf32>, %[[B:.*]]: tensor<32xf32>, %[[WT:.*]]: tensor<16x32xf32>)
// CHECK: xf.linear %[[X]], %[[W]], %[[B]] : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[W]] : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[WT]], %[[B]] {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
// GENERIC-LABEL: sym_name = "linear"
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>}> : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 1, 1, 0, 0>}> : (tensor<2x7x16xf32>, tensor<32x16xf32>)
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 1, 1, 1, 0>, transpose_weight}>
func.func @linear(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>,
                  %b: tensor<32xf32>, %wt: tensor<16x32xf32>)
    -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x32xf32>) {
  %0 = xf.linear %x, %w, %b
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
      -> tensor<2x7x32xf32>
  %1 = xf.linear %x, %w
      : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x32xf32>
  %2 = xf.linear %x, %wt, %b {transpose_weight}
      : (tensor<2x7x16xf32>, tensor<16x32xf32>, tensor<32xf32>)
      -> tensor<2x7x32xf32>
  return %0, %1, %2
      : tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x32xf32>
}

// -----

// The epilogue form: activation, residual, both, with and without bias.

// CHECK-LABEL: func.func @linear_epilogue
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[W:.*]]: tensor<32x16xf32>, %[[B:.*]]: tensor<32xf32>, %[[R:.*]]: tensor<2x7x32xf32>)
// CHECK: xf.linear %[[X]], %[[W]], %[[B]] {activation = #xf<activation gelu>} : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[W]] residual(%[[R]]) : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<2x7x32xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[W]], %[[B]] residual(%[[R]]) {activation = #xf<activation relu>} : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>, tensor<2x7x32xf32>) -> tensor<2x7x32xf32>
// GENERIC-LABEL: sym_name = "linear_epilogue"
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}, %{{.*}}) <{activation = #xf<activation gelu>, operandSegmentSizes = array<i32: 1, 1, 1, 0>}>
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}, %{{.*}}) <{operandSegmentSizes = array<i32: 1, 1, 0, 1>}>
// GENERIC: "xf.linear"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{activation = #xf<activation relu>, operandSegmentSizes = array<i32: 1, 1, 1, 1>}>
func.func @linear_epilogue(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>,
                           %b: tensor<32xf32>, %r: tensor<2x7x32xf32>)
    -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x32xf32>) {
  %0 = xf.linear %x, %w, %b {activation = #xf<activation gelu>}
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
      -> tensor<2x7x32xf32>
  %1 = xf.linear %x, %w residual(%r)
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<2x7x32xf32>)
      -> tensor<2x7x32xf32>
  %2 = xf.linear %x, %w, %b residual(%r) {activation = #xf<activation relu>}
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>,
         tensor<2x7x32xf32>) -> tensor<2x7x32xf32>
  return %0, %1, %2
      : tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x32xf32>
}

// -----

// CHECK-LABEL: func.func @layer_norm_residual
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[G:.*]]: tensor<16xf32>, %[[B:.*]]: tensor<16xf32>, %[[R:.*]]: tensor<2x7x16xf32>)
// CHECK: xf.layer_norm %[[X]], %[[G]], %[[B]] residual(%[[R]]) {epsilon = 1.000000e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
// CHECK: %{{.*}}, %{{.*}} = xf.layer_norm %[[X]], %[[G]], %[[B]] residual(%[[R]]) {epsilon = 1.000000e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>) -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>)
// GENERIC-LABEL: sym_name = "layer_norm_residual"
// GENERIC: "xf.layer_norm"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{epsilon = 1.000000e-05 : f64}>
func.func @layer_norm_residual(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>,
                               %b: tensor<16xf32>, %r: tensor<2x7x16xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>)
      -> tensor<2x7x16xf32>
  %1, %2 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>)
      -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>)
  return %0, %1, %2
      : tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @split
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x48xf32>, %[[V:.*]]: tensor<5xf32>)
// CHECK: %{{.*}}:3 = xf.split %[[X]] : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>
// CHECK: %{{.*}} = xf.split %[[V]] : tensor<5xf32> -> tensor<5xf32>
// GENERIC-LABEL: sym_name = "split"
// GENERIC: "xf.split"(%{{.*}}) : (tensor<2x7x48xf32>) -> (tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>)
func.func @split(%x: tensor<2x7x48xf32>, %v: tensor<5xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>, tensor<5xf32>) {
  %0:3 = xf.split %x
      : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x7x8xf32>,
        tensor<2x7x24xf32>
  %1 = xf.split %v : tensor<5xf32> -> tensor<5xf32>
  return %0#0, %0#1, %0#2, %1
      : tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>, tensor<5xf32>
}

// -----

// CHECK-LABEL: func.func @feed_forward
// CHECK-SAME: (%[[X:.*]]: tensor<2x7x16xf32>, %[[W1:.*]]: tensor<64x16xf32>, %[[B1:.*]]: tensor<64xf32>, %[[W2:.*]]: tensor<16x64xf32>, %[[B2:.*]]: tensor<16xf32>)
// CHECK: xf.feed_forward gelu %[[X]], fc1(%[[W1]], %[[B1]]), fc2(%[[W2]], %[[B2]]) :
// CHECK: xf.feed_forward relu %[[X]], fc1(%[[W1]]), fc2(%[[W2]]) : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<2x7x16xf32>
// CHECK: xf.feed_forward gelu_tanh %[[X]], fc1(%[[W1]]), fc2(%[[W2]], %[[B2]]) :
// GENERIC-LABEL: sym_name = "feed_forward"
// GENERIC: "xf.feed_forward"({{.*}}) <{activation = #xf<activation gelu>, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1>}>
// GENERIC: "xf.feed_forward"({{.*}}) <{activation = #xf<activation relu>, operandSegmentSizes = array<i32: 1, 1, 0, 1, 0>}>
// GENERIC: "xf.feed_forward"({{.*}}) <{activation = #xf<activation gelu_tanh>, operandSegmentSizes = array<i32: 1, 1, 0, 1, 1>}>
func.func @feed_forward(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>,
                        %b1: tensor<64xf32>, %w2: tensor<16x64xf32>,
                        %b2: tensor<16xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.feed_forward gelu %x, fc1(%w1, %b1), fc2(%w2, %b2)
      : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<64xf32>,
         tensor<16x64xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %1 = xf.feed_forward relu %x, fc1(%w1), fc2(%w2)
      : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>)
      -> tensor<2x7x16xf32>
  %2 = xf.feed_forward gelu_tanh %x, fc1(%w1), fc2(%w2, %b2)
      : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>,
         tensor<16xf32>) -> tensor<2x7x16xf32>
  return %0, %1, %2
      : tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @multi_head_attention
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[M:[^:]*]]: tensor<2x5x8xf32>, %[[W:[^:]*]]: tensor<16x16xf32>, %[[B:[^:]*]]: tensor<16xf32>, %[[WKV:[^:]*]]: tensor<16x8xf32>, %[[LEN:[^:]*]]: tensor<2xi32>)
// CHECK: xf.multi_head_attention %[[X]], %[[X]], q(%[[W]], %[[B]]), k(%[[W]], %[[B]]), v(%[[W]], %[[B]]), out(%[[W]], %[[B]]) key_lengths(%[[LEN]]) {causal, num_heads = 2 : i64} :
// CHECK: xf.multi_head_attention %[[X]], %[[M]], q(%[[W]]), k(%[[WKV]]), v(%[[WKV]]), out(%[[W]]) {num_heads = 4 : i64, scale = 1.250000e-01 : f64} : (tensor<2x7x16xf32>, tensor<2x5x8xf32>, tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
// GENERIC-LABEL: sym_name = "multi_head_attention"
// GENERIC: "xf.multi_head_attention"({{.*}}) <{causal, num_heads = 2 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1>}>
// GENERIC: "xf.multi_head_attention"({{.*}}) <{num_heads = 4 : i64, operandSegmentSizes = array<i32: 1, 1, 1, 0, 1, 0, 1, 0, 1, 0, 0>, scale = 1.250000e-01 : f64}>
func.func @multi_head_attention(%x: tensor<2x7x16xf32>, %m: tensor<2x5x8xf32>,
                                %w: tensor<16x16xf32>, %b: tensor<16xf32>,
                                %wkv: tensor<16x8xf32>, %len: tensor<2xi32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.multi_head_attention %x, %x, q(%w, %b), k(%w, %b), v(%w, %b),
      out(%w, %b) key_lengths(%len) {num_heads = 2 : i64, causal}
      : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>,
         tensor<16xf32>, tensor<16x16xf32>, tensor<16xf32>,
         tensor<16x16xf32>, tensor<16xf32>, tensor<16x16xf32>,
         tensor<16xf32>, tensor<2xi32>) -> tensor<2x7x16xf32>
  %1 = xf.multi_head_attention %x, %m, q(%w), k(%wkv), v(%wkv), out(%w)
      {num_heads = 4 : i64, scale = 0.125 : f64}
      : (tensor<2x7x16xf32>, tensor<2x5x8xf32>, tensor<16x16xf32>,
         tensor<16x8xf32>, tensor<16x8xf32>, tensor<16x16xf32>)
      -> tensor<2x7x16xf32>
  return %0, %1 : tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @attention
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<2x7x16xf32>, %[[K:[^:]*]]: tensor<2x5x16xf32>, %[[V:[^:]*]]: tensor<2x5x8xf32>, %[[LEN:[^:]*]]: tensor<2xi32>)
// CHECK: xf.attention %[[Q]], %[[K]], %[[V]] {num_heads = 2 : i64, scale = 2.500000e-01 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>) -> tensor<2x7x8xf32>
// CHECK: xf.attention %[[Q]], %[[K]], %[[V]] key_lengths(%[[LEN]]) {causal, num_heads = 4 : i64, scale = 5.000000e-01 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>, tensor<2xi32>) -> tensor<2x7x8xf32>
// GENERIC-LABEL: sym_name = "attention"
// GENERIC: "xf.attention"(%{{.*}}, %{{.*}}, %{{.*}}) <{num_heads = 2 : i64, scale = 2.500000e-01 : f64}>
// GENERIC: "xf.attention"(%{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}) <{causal, num_heads = 4 : i64, scale = 5.000000e-01 : f64}>
func.func @attention(%q: tensor<2x7x16xf32>, %k: tensor<2x5x16xf32>,
                     %v: tensor<2x5x8xf32>, %len: tensor<2xi32>)
    -> (tensor<2x7x8xf32>, tensor<2x7x8xf32>) {
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>)
      -> tensor<2x7x8xf32>
  %1 = xf.attention %q, %k, %v key_lengths(%len)
      {num_heads = 4 : i64, scale = 0.5 : f64, causal}
      : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>,
         tensor<2xi32>) -> tensor<2x7x8xf32>
  return %0, %1 : tensor<2x7x8xf32>, tensor<2x7x8xf32>
}

// -----

// Mask patterns: one text syntax, per head group.

// CHECK-LABEL: func.func @attention_patterns
// CHECK: xf.attention %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 2 : i64, pattern = #xf.pattern<"sliding_window(w = 8) + global(positions = [0, 7])">, scale = 2.500000e-01 : f64}
// CHECK: xf.attention %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 4 : i64, pattern = #xf.pattern<"strided_local(l = 4) | strided_summary(l = 4)">, scale = 2.500000e-01 : f64}
// CHECK: xf.multi_head_attention {{.*}}pattern = #xf.pattern<"block_sparse(b = 4, layout = {{\[\[}}1, 0], [1, 1]])">
// GENERIC-LABEL: sym_name = "attention_patterns"
// GENERIC: "xf.attention"(%{{.*}}, %{{.*}}, %{{.*}}) <{num_heads = 2 : i64, pattern = #xf.pattern<"sliding_window(w = 8) + global(positions = [0, 7])">
func.func @attention_patterns(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>)
    -> (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>) {
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"sliding_window(w = 8) + global(positions = [0, 7])">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  %1 = xf.attention %x, %x, %x {num_heads = 4 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"strided_local(l = 4) | strided_summary(l = 4)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  %2 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w)
      {num_heads = 2 : i64,
       pattern = #xf.pattern<"block_sparse(b = 4, layout = [[1, 0], [1, 1]])">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<16x16xf32>,
         tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      -> tensor<1x8x16xf32>
  return %0, %1, %2 : tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>
}

// -----

// The families that are not masks use the same attribute.

// CHECK-LABEL: func.func @attention_families
// CHECK: pattern = #xf.pattern<"performer(m = 16, seed = 0, causal)">
// CHECK: pattern = #xf.pattern<"lsh(buckets = 4, hashes = 1, chunk = 4, seed = 0)">
func.func @attention_families(%x: tensor<1x8x16xf32>)
    -> (tensor<1x8x16xf32>, tensor<1x8x16xf32>) {
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"performer(m = 16, seed = 0, causal)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  %1 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"lsh(buckets = 4, hashes = 1, chunk = 4, seed = 0)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0, %1 : tensor<1x8x16xf32>, tensor<1x8x16xf32>
}

// -----

// Transformer-XL: memory before the segment, the next memory, and the
// relative-position attention core.

// CHECK-LABEL: func.func @segment_recurrence
// CHECK: %[[KV:.*]] = xf.sequence_concat %{{.*}}, %{{.*}} : (tensor<1x8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x15x16xf32>
// CHECK: xf.sequence_slice %[[KV]] {offset = 7 : i64} : tensor<1x15x16xf32> -> tensor<1x8x16xf32>
// CHECK: xf.relative_attention %{{.*}}, %[[KV]], %[[KV]], position(%{{.*}}), u(%{{.*}}), v(%{{.*}}) memory_lengths(%{{.*}}) {num_heads = 2 : i64, scale = 0.353553{{[0-9]*}} : f64}
// GENERIC-LABEL: sym_name = "segment_recurrence"
// GENERIC: "xf.sequence_concat"
// GENERIC: "xf.sequence_slice"(%{{.*}}) <{offset = 7 : i64}>
// GENERIC: "xf.relative_attention"
func.func @segment_recurrence(%x: tensor<1x7x16xf32>, %mem: tensor<1x8x16xf32>,
                              %wr: tensor<16x16xf32>, %u: tensor<2x8xf32>,
                              %v: tensor<2x8xf32>, %len: tensor<1xi32>)
    -> (tensor<1x7x16xf32>, tensor<1x8x16xf32>) {
  %kv = xf.sequence_concat %mem, %x
      : (tensor<1x8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x15x16xf32>
  %next = xf.sequence_slice %kv {offset = 7 : i64}
      : tensor<1x15x16xf32> -> tensor<1x8x16xf32>
  %o = xf.relative_attention %x, %kv, %kv, position(%wr), u(%u), v(%v)
      memory_lengths(%len) {num_heads = 2 : i64, scale = 0.35355339059327373 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>,
         tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi32>)
      -> tensor<1x7x16xf32>
  return %o, %next : tensor<1x7x16xf32>, tensor<1x8x16xf32>
}

// -----

// Linformer's sequence projection: one matrix for every head, or one per
// head, with or without key lengths.

// CHECK-LABEL: func.func @linformer_projection
// CHECK: xf.linformer_projection %{{.*}}, %{{.*}} key_lengths(%{{.*}}) {num_heads = 2 : i64, pattern = #xf.pattern<"linformer(k = 4, sharing = headwise, seed = 0)">} : (tensor<2x7x16xf32>, tensor<4x7xf32>, tensor<2xi32>) -> tensor<2x4x16xf32>
// CHECK: xf.linformer_projection %{{.*}}, %{{.*}} {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x9x7xf32>) -> tensor<2x9x16xf32>
func.func @linformer_projection(%x: tensor<2x7x16xf32>, %e: tensor<4x7xf32>,
                                %eh: tensor<2x9x7xf32>, %len: tensor<2xi32>)
    -> (tensor<2x4x16xf32>, tensor<2x9x16xf32>) {
  %0 = xf.linformer_projection %x, %e key_lengths(%len) {num_heads = 2 : i64,
      pattern = #xf.pattern<"linformer(k = 4, sharing = headwise, seed = 0)">}
      : (tensor<2x7x16xf32>, tensor<4x7xf32>, tensor<2xi32>)
      -> tensor<2x4x16xf32>
  %1 = xf.linformer_projection %x, %eh {num_heads = 2 : i64}
      : (tensor<2x7x16xf32>, tensor<2x9x7xf32>) -> tensor<2x9x16xf32>
  return %0, %1 : tensor<2x4x16xf32>, tensor<2x9x16xf32>
}

// -----

// CHECK-LABEL: func.func @sentence_pool
// CHECK: xf.sentence_pool mean %{{.*}}, %{{.*}} {normalize = true} : (tensor<2x7x16xf32>, tensor<2xi32>) -> tensor<2x16xf32>
// CHECK: xf.sentence_pool cls %{{.*}} {epsilon = 9.99{{[0-9]*}}E-7 : f64} : (tensor<2x7x16xf32>) -> tensor<2x16xf32>
// GENERIC-LABEL: sym_name = "sentence_pool"
// GENERIC: "xf.sentence_pool"(%{{.*}}, %{{.*}}) <{epsilon = 9.9999999999999998E-13 : f64, mode = #xf<pooling mean>, normalize = true}>
func.func @sentence_pool(%h: tensor<2x7x16xf32>, %len: tensor<2xi32>)
    -> (tensor<2x16xf32>, tensor<2x16xf32>) {
  %0 = xf.sentence_pool mean %h, %len {normalize = true}
      : (tensor<2x7x16xf32>, tensor<2xi32>) -> tensor<2x16xf32>
  %1 = xf.sentence_pool cls %h {epsilon = 1.0e-6 : f64}
      : (tensor<2x7x16xf32>) -> tensor<2x16xf32>
  return %0, %1 : tensor<2x16xf32>, tensor<2x16xf32>
}

// -----

// Key/value cache: a decode step's write at a position, a prefill's at
// row 0 (no position operand).

// CHECK-LABEL: func.func @cache_write
// CHECK: xf.cache_write %{{.*}}, %{{.*}}, %{{.*}} : (tensor<2x64x16xf32>, tensor<2x1x16xf32>, tensor<1xi32>) -> tensor<2x64x16xf32>
// CHECK: xf.cache_write %{{.*}}, %{{.*}} : (tensor<2x64x16xf32>, tensor<2x7x16xf32>) -> tensor<2x64x16xf32>
// GENERIC-LABEL: sym_name = "cache_write"
// GENERIC: "xf.cache_write"(%{{.*}}, %{{.*}}, %{{.*}})
// GENERIC: "xf.cache_write"(%{{.*}}, %{{.*}})
func.func @cache_write(%cache: tensor<2x64x16xf32>, %k: tensor<2x1x16xf32>,
                       %pos: tensor<1xi32>, %prompt: tensor<2x7x16xf32>)
    -> (tensor<2x64x16xf32>, tensor<2x64x16xf32>) {
  %0 = xf.cache_write %cache, %k, %pos
      : (tensor<2x64x16xf32>, tensor<2x1x16xf32>, tensor<1xi32>)
      -> tensor<2x64x16xf32>
  %1 = xf.cache_write %cache, %prompt
      : (tensor<2x64x16xf32>, tensor<2x7x16xf32>) -> tensor<2x64x16xf32>
  return %0, %1 : tensor<2x64x16xf32>, tensor<2x64x16xf32>
}
