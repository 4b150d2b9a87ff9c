// RUN: xfc-opt %s -split-input-file -xf-fuse-residual-layernorm | FileCheck %s

// Post-LN: the sum has no other use; the norm takes both addends and has
// one result.

// CHECK-LABEL: func.func @post_ln
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[Y:[^:]*]]: tensor<2x7x16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[B:[^:]*]]: tensor<16xf32>)
// CHECK-NEXT: %[[N:.*]] = xf.layer_norm %[[X]], %[[G]], %[[B]] residual(%[[Y]]) {epsilon = 1.000000e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
// CHECK-NEXT: return %[[N]]
func.func @post_ln(%x: tensor<2x7x16xf32>, %y: tensor<2x7x16xf32>,
    %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<2x7x16xf32> {
  %s = xf.add %x, %y : tensor<2x7x16xf32>
  %n = xf.layer_norm %s, %g, %b {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  return %n : tensor<2x7x16xf32>
}

// -----

// Pre-LN: the sum continues as the residual stream. The fused norm returns
// it, and its other users (here used before the norm) read it.

// CHECK-LABEL: func.func @pre_ln
// CHECK: %[[N:.*]], %[[S:.*]] = xf.layer_norm %{{.*}}, %{{.*}}, %{{.*}} residual(%{{.*}}) {epsilon = 1.000000e-05 : f64} : {{.*}} -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>)
// CHECK-NEXT: %[[T:.*]] = xf.softmax %[[S]]
// CHECK-NEXT: %[[U:.*]] = xf.add %[[S]], %[[N]]
// CHECK-NOT: xf.add
func.func @pre_ln(%x: tensor<2x7x16xf32>, %y: tensor<2x7x16xf32>,
    %g: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %s = xf.add %x, %y : tensor<2x7x16xf32>
  %t = xf.softmax %s : tensor<2x7x16xf32>
  %n = xf.layer_norm %s, %g, %b {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  %u = xf.add %s, %n : tensor<2x7x16xf32>
  return %t, %u : tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// Gamma computed after the add and a user of the sum before the norm: no
// position works for the fused op, so nothing changes. A norm of something
// other than an add is left alone too.

// CHECK-LABEL: func.func @no_position
// CHECK: xf.add
// CHECK: xf.softmax
// CHECK: xf.layer_norm %{{[^,]*}}, %{{[^,]*}}, %{{[^ ]*}} {epsilon
// CHECK: xf.layer_norm %{{[^,]*}}, %{{[^,]*}}, %{{[^ ]*}} {epsilon
func.func @no_position(%x: tensor<7x16xf32>, %y: tensor<7x16xf32>,
    %g0: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>) {
  %s = xf.add %x, %y : tensor<7x16xf32>
  %t = xf.softmax %s : tensor<7x16xf32>
  %g = xf.softmax %g0 : tensor<16xf32>
  %n = xf.layer_norm %s, %g, %b {epsilon = 1.0e-05 : f64}
      : (tensor<7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<7x16xf32>
  %m = xf.layer_norm %t, %g0, %b {epsilon = 1.0e-05 : f64}
      : (tensor<7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<7x16xf32>
  return %t, %n, %m : tensor<7x16xf32>, tensor<7x16xf32>, tensor<7x16xf32>
}

// -----

// With a fusion plan, an add + norm pair not listed stays as it is.

// CHECK-LABEL: func.func @planned
// CHECK: %[[S0:.*]] = xf.layer_norm %{{.*}}, %{{.*}}, %{{.*}} residual(
// CHECK: %[[A:.*]] = xf.add
// CHECK: xf.layer_norm %[[A]], %{{.*}}, %{{.*}} {
module attributes {xf.fusion_plan = [{fusion = "residual-layernorm", nodes = ["l0.residual", "l0.norm"]}]} {
func.func @planned(%x: tensor<7x16xf32>, %y: tensor<7x16xf32>,
    %g: tensor<16xf32>, %b: tensor<16xf32>) -> (tensor<7x16xf32>, tensor<7x16xf32>) {
  %s0 = xf.add %x, %y : tensor<7x16xf32> loc("l0.residual")
  %n0 = xf.layer_norm %s0, %g, %b {epsilon = 1.0e-5 : f64}
      : (tensor<7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<7x16xf32> loc("l0.norm")
  %s1 = xf.add %n0, %y : tensor<7x16xf32> loc("l1.residual")
  %n1 = xf.layer_norm %s1, %g, %b {epsilon = 1.0e-5 : f64}
      : (tensor<7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<7x16xf32> loc("l1.norm")
  return %n0, %n1 : tensor<7x16xf32>, tensor<7x16xf32>
}
}
