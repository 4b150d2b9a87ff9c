// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-weight-layout)' | FileCheck %s
// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-weight-layout{transpose-linear-weights=false})' | FileCheck %s --check-prefix=KEEP

// A weight used only as linear weights (here by two linears) is stored
// [in, out]: the argument type changes, every linear gets transpose_weight
// and the argument records the transform. Its bias and arguments without
// xf.weight keep their types and attributes.

// CHECK-LABEL: func.func @linear_weights
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W:[^:]*]]: tensor<16x32xf32> {xf.weight = "fc.weight", xf.weight_transform = "transpose"}, %[[B:[^:]*]]: tensor<32xf32> {xf.weight = "fc.bias"}, %[[V:[^:]*]]: tensor<8x16xf32>)
// CHECK-SAME: -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x8xf32>)
// CHECK: xf.linear %[[X]], %[[W]], %[[B]] {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x32xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[W]] {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x32xf32>) -> tensor<2x7x32xf32>
// CHECK: xf.linear %[[X]], %[[V]] : (tensor<2x7x16xf32>, tensor<8x16xf32>) -> tensor<2x7x8xf32>

// KEEP-LABEL: func.func @linear_weights
// KEEP-SAME: %{{[^:]*}}: tensor<32x16xf32> {xf.weight = "fc.weight"}, %{{[^:]*}}: tensor<32xf32> {xf.weight = "fc.bias"}
// KEEP-NOT: transpose
// KEEP-LABEL: func.func @tied_embedding
func.func @linear_weights(%x: tensor<2x7x16xf32>,
    %w: tensor<32x16xf32> {xf.weight = "fc.weight"},
    %b: tensor<32xf32> {xf.weight = "fc.bias"},
    %v: tensor<8x16xf32>)
    -> (tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x8xf32>) {
  %0 = xf.linear %x, %w, %b
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
      -> tensor<2x7x32xf32>
  %1 = xf.linear %x, %w
      : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x32xf32>
  %2 = xf.linear %x, %v
      : (tensor<2x7x16xf32>, tensor<8x16xf32>) -> tensor<2x7x8xf32>
  return %0, %1, %2
      : tensor<2x7x32xf32>, tensor<2x7x32xf32>, tensor<2x7x8xf32>
}

// -----

// A tied embedding: the token table is also the LM head's weight. The
// table keeps the [out, in] layout the embedding lookup needs; the LM head
// reads a derived copy of it, laid out like any linear weight. The other
// linear weight is transposed as usual.

// CHECK-LABEL: func.func @tied_embedding
// CHECK-SAME: (%[[IDS:[^:]*]]: tensor<2x7xi32>, %[[T:[^:]*]]: tensor<64x16xf32> {xf.weight = "embed.tokens"}, %[[TL:[^:]*]]: tensor<16x64xf32> {xf.weight = "embed.tokens.linear", xf.weight_concat = ["embed.tokens"], xf.weight_transform = "transpose"}, %[[W:[^:]*]]: tensor<16x16xf32> {xf.weight = "proj.weight", xf.weight_transform = "transpose"})
// CHECK: %[[E:.*]] = xf.embedding %[[IDS]], %[[T]]
// CHECK: %[[P:.*]] = xf.linear %[[E]], %[[W]] {transpose_weight}
// CHECK: xf.linear %[[P]], %[[TL]] {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x64xf32>) -> tensor<2x7x64xf32>
// KEEP-NOT: transpose
// KEEP-LABEL: func.func @other_uses
func.func @tied_embedding(%ids: tensor<2x7xi32>,
    %t: tensor<64x16xf32> {xf.weight = "embed.tokens"},
    %w: tensor<16x16xf32> {xf.weight = "proj.weight"}) -> tensor<2x7x64xf32> {
  %e = xf.embedding %ids, %t
      : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  %p = xf.linear %e, %w
      : (tensor<2x7x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  %l = xf.linear %p, %t
      : (tensor<2x7x16xf32>, tensor<64x16xf32>) -> tensor<2x7x64xf32>
  return %l : tensor<2x7x64xf32>
}

// -----

// Not transposed: a weight that is a linear's input, one returned as well,
// one already transformed, and a linear already in [in, out] layout.

// CHECK-LABEL: func.func @other_uses
// CHECK-SAME: %{{[^:]*}}: tensor<16x16xf32> {xf.weight = "a"}
// CHECK-SAME: %{{[^:]*}}: tensor<16x16xf32> {xf.weight = "b"}
// CHECK-SAME: %{{[^:]*}}: tensor<16x16xf32> {xf.weight = "c", xf.weight_transform = "custom"}
// CHECK-SAME: %{{[^:]*}}: tensor<16x8xf32> {xf.weight = "d"}
// CHECK-NOT: "transpose"
// CHECK: return
func.func @other_uses(%x: tensor<16x16xf32>,
    %a: tensor<16x16xf32> {xf.weight = "a"},
    %b: tensor<16x16xf32> {xf.weight = "b"},
    %c: tensor<16x16xf32> {xf.weight = "c", xf.weight_transform = "custom"},
    %d: tensor<16x8xf32> {xf.weight = "d"})
    -> (tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>,
        tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x16xf32>) {
  %0 = xf.linear %a, %x : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %1 = xf.linear %x, %b : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %2 = xf.linear %x, %c : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  %3 = xf.linear %x, %d {transpose_weight} : (tensor<16x16xf32>, tensor<16x8xf32>) -> tensor<16x8xf32>
  %4 = xf.linear %x, %x : (tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<16x16xf32>
  return %0, %1, %b, %2, %3, %4
      : tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>,
        tensor<16x16xf32>, tensor<16x8xf32>, tensor<16x16xf32>
}

// -----

// A function with callers keeps its signature.
// CHECK-LABEL: func.func @called
// CHECK-SAME: tensor<32x16xf32> {xf.weight = "w"}
// CHECK-NOT: xf.weight_transform
// CHECK: xf.linear %{{.*}}, %{{.*}} :
// KEEP-LABEL: func.func @called
func.func @called(%x: tensor<2x16xf32>, %w: tensor<32x16xf32> {xf.weight = "w"}) -> tensor<2x32xf32> {
  %0 = xf.linear %x, %w : (tensor<2x16xf32>, tensor<32x16xf32>) -> tensor<2x32xf32>
  return %0 : tensor<2x32xf32>
}
func.func @caller(%x: tensor<2x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x32xf32> {
  %0 = func.call @called(%x, %w) : (tensor<2x16xf32>, tensor<32x16xf32>) -> tensor<2x32xf32>
  return %0 : tensor<2x32xf32>
}
