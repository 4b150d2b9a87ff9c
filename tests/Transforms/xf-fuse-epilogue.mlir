// RUN: xfc-opt %s -split-input-file -xf-fuse-epilogue | FileCheck %s

// A feed-forward block with its residual: the activation goes into the
// first linear, the residual add into the second.

// CHECK-LABEL: func.func @ffn_residual
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W1:[^:]*]]: tensor<32x16xf32>, %[[B1:[^:]*]]: tensor<32xf32>, %[[W2:[^:]*]]: tensor<16x32xf32>)
// CHECK: %[[H:.*]] = xf.linear %[[X]], %[[W1]], %[[B1]] {activation = #xf<activation gelu>}
// CHECK: %[[Y:.*]] = xf.linear %[[H]], %[[W2]] residual(%[[X]])
// CHECK-NOT: xf.activation
// CHECK-NOT: xf.add
// CHECK: return %[[Y]]
func.func @ffn_residual(%x: tensor<2x7x16xf32>, %w1: tensor<32x16xf32>,
    %b1: tensor<32xf32>, %w2: tensor<16x32xf32>) -> tensor<2x7x16xf32> {
  %h = xf.linear %x, %w1, %b1
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>) -> tensor<2x7x32xf32>
  %a = xf.activation gelu %h : tensor<2x7x32xf32>
  %y = xf.linear %a, %w2 : (tensor<2x7x32xf32>, tensor<16x32xf32>) -> tensor<2x7x16xf32>
  %r = xf.add %x, %y : tensor<2x7x16xf32>
  return %r : tensor<2x7x16xf32>
}

// -----

// Activation and residual on one linear: act first, then + r. The residual
// is defined after the linear, so the fused op sits where the add was.

// CHECK-LABEL: func.func @both
// CHECK: %[[R:.*]] = xf.softmax
// CHECK: %[[Y:.*]] = xf.linear %{{.*}}, %{{.*}} residual(%[[R]]) {activation = #xf<activation relu>}
// CHECK: return %[[Y]]
func.func @both(%x: tensor<7x16xf32>, %w: tensor<16x16xf32>) -> tensor<7x16xf32> {
  %y = xf.linear %x, %w : (tensor<7x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  %a = xf.activation relu %y : tensor<7x16xf32>
  %r = xf.softmax %x : tensor<7x16xf32>
  %s = xf.add %a, %r : tensor<7x16xf32>
  return %s : tensor<7x16xf32>
}

// -----

// Not fused: a linear result with a second use, an activation after a
// residual (act(y + r) is not the epilogue's act(y) + r), and add(y, y).

// CHECK-LABEL: func.func @not_fused
// CHECK: %[[Y:.*]] = xf.linear
// CHECK: xf.activation gelu %[[Y]]
// CHECK: %[[Z:.*]] = xf.linear %{{.*}}, %{{.*}} residual(%{{.*}}) :
// CHECK: xf.activation relu %[[Z]]
// CHECK: %[[D:.*]] = xf.linear
// CHECK: xf.add %[[D]], %[[D]]
func.func @not_fused(%x: tensor<7x16xf32>, %w: tensor<16x16xf32>)
    -> (tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>) {
  %y = xf.linear %x, %w : (tensor<7x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  %a = xf.activation gelu %y : tensor<7x16xf32>
  %z = xf.linear %x, %w : (tensor<7x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  %s = xf.add %z, %x : tensor<7x16xf32>
  %b = xf.activation relu %s : tensor<7x16xf32>
  %d = xf.linear %x, %w : (tensor<7x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  %dd = xf.add %d, %d : tensor<7x16xf32>
  return %y, %a, %b, %dd : tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>
}

// -----

// With a fusion plan on the module (as `xfc compile --fusion-plan` attaches
// it), only the groups it lists are fused: fc1 takes its activation, but
// the residual add stays apart from fc2 because no epilogue group holds
// both. Ops are named by their locations.

// CHECK-LABEL: func.func @planned
// CHECK: xf.linear {{.*}} {activation = #xf<activation gelu>}
// CHECK: %[[Y:.*]] = xf.linear
// CHECK-NOT: residual
// CHECK: xf.add %{{.*}}, %[[Y]]
module attributes {xf.fusion_plan = [{fusion = "epilogue", nodes = ["ffn.fc1", "ffn.act"]}]} {
func.func @planned(%x: tensor<2x7x16xf32>, %w1: tensor<32x16xf32>,
    %w2: tensor<16x32xf32>) -> tensor<2x7x16xf32> {
  %h = xf.linear %x, %w1
      : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x32xf32> loc("ffn.fc1")
  %a = xf.activation gelu %h : tensor<2x7x32xf32> loc("ffn.act")
  %y = xf.linear %a, %w2
      : (tensor<2x7x32xf32>, tensor<16x32xf32>) -> tensor<2x7x16xf32> loc("ffn.fc2")
  %r = xf.add %x, %y : tensor<2x7x16xf32> loc("ffn.residual")
  return %r : tensor<2x7x16xf32>
}
}

// -----

// An empty plan fuses nothing, and unnamed ops are never in a plan.

// CHECK-LABEL: func.func @empty_plan
// CHECK: xf.activation
module attributes {xf.fusion_plan = []} {
func.func @empty_plan(%x: tensor<7x16xf32>, %w: tensor<16x16xf32>) -> tensor<7x16xf32> {
  %y = xf.linear %x, %w : (tensor<7x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  %a = xf.activation relu %y : tensor<7x16xf32>
  return %a : tensor<7x16xf32>
}
}
