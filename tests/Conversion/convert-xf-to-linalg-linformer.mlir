// convert-xf-to-linalg on xf.linformer_projection (LinformerProjection.cpp):
// the padding select, then per batch item one contraction over the n
// positions, shared by the heads or batched over them; and the error for an
// xf.attention that still carries a linformer pattern.
// RUN: xfc-opt %s -split-input-file -verify-diagnostics -convert-xf-to-linalg | FileCheck %s

// CHECK-DAG: #[[RJ:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[JC:.*]] = affine_map<(d0, d1, d2) -> (d2, d1)>
// CHECK-DAG: #[[RC:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @shared
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[E:[^:]*]]: tensor<4x7xf32>, %[[LEN:[^:]*]]: tensor<2xi32>)
// The padded rows are selected away first.
// CHECK: %[[M:.*]] = linalg.generic {{.*}} ins(%[[X]], %[[LEN]] : tensor<2x7x16xf32>, tensor<2xi32>)
// CHECK: linalg.index 1
// CHECK: arith.cmpi ult
// CHECK: arith.select
// Batch item 0: a [4, 7] x [7, 16] contraction into a zero-filled [4, 16].
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[M]][0, 0, 0] [1, 7, 16] [1, 1, 1] : tensor<2x7x16xf32> to tensor<7x16xf32>
// CHECK: %[[Z0:.*]] = linalg.fill
// CHECK: %[[P0:.*]] = linalg.generic {indexing_maps = [#[[RJ]], #[[JC]], #[[RC]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%[[E]], %[[X0]] : tensor<4x7xf32>, tensor<7x16xf32>) outs(%[[Z0]] : tensor<4x16xf32>)
// CHECK: %[[R0:.*]] = tensor.insert_slice %[[P0]] into %{{.*}}[0, 0, 0] [1, 4, 16] [1, 1, 1]
// Batch item 1.
// CHECK: tensor.extract_slice %[[M]][1, 0, 0] [1, 7, 16]
// CHECK: %[[R1:.*]] = tensor.insert_slice %{{.*}} into %[[R0]][1, 0, 0] [1, 4, 16] [1, 1, 1]
// CHECK: return %[[R1]]
func.func @shared(%x: tensor<2x7x16xf32>, %e: tensor<4x7xf32>,
                  %len: tensor<2xi32>) -> tensor<2x4x16xf32> {
  %0 = xf.linformer_projection %x, %e key_lengths(%len) {num_heads = 2 : i64}
      : (tensor<2x7x16xf32>, tensor<4x7xf32>, tensor<2xi32>)
      -> tensor<2x4x16xf32>
  return %0 : tensor<2x4x16xf32>
}

// -----

// One matrix per head: the contraction is batched over the head, with the
// head dimension innermost in the input and the output.

// CHECK-DAG: #[[HRJ:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-DAG: #[[JHE:.*]] = affine_map<(d0, d1, d2, d3) -> (d3, d0, d2)>
// CHECK-DAG: #[[RHE:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d0, d2)>
// CHECK-LABEL: func.func @per_head
// CHECK-SAME: (%[[X:[^:]*]]: tensor<1x7x16xf32>, %[[E:[^:]*]]: tensor<2x9x7xf32>)
// CHECK-NOT: arith.select
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[X]][0, 0, 0] [1, 7, 16] [1, 1, 1] : tensor<1x7x16xf32> to tensor<7x16xf32>
// CHECK: %[[S:.*]] = tensor.expand_shape %[[X0]] {{\[}}[0], [1, 2]] output_shape [7, 2, 8] : tensor<7x16xf32> into tensor<7x2x8xf32>
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[HRJ]], #[[JHE]], #[[RHE]]], iterator_types = ["parallel", "parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%[[E]], %[[S]] : tensor<2x9x7xf32>, tensor<7x2x8xf32>) outs(%{{.*}} : tensor<9x2x8xf32>)
// CHECK: tensor.collapse_shape %[[P]] {{\[}}[0], [1, 2]] : tensor<9x2x8xf32> into tensor<9x16xf32>
func.func @per_head(%x: tensor<1x7x16xf32>, %e: tensor<2x9x7xf32>)
    -> tensor<1x9x16xf32> {
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64}
      : (tensor<1x7x16xf32>, tensor<2x9x7xf32>) -> tensor<1x9x16xf32>
  return %0 : tensor<1x9x16xf32>
}

// -----

// A shared matrix and H*D = 48, a multiple of the 24-column panels: the
// input is packed into [2, 7, 24] panels and the contraction runs in panel
// space, like a packed xf.linear.

// CHECK-DAG: #[[PRJ:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d2)>
// CHECK-DAG: #[[PJI:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d2, d3)>
// CHECK-DAG: #[[POUT:.*]] = affine_map<(d0, d1, d2, d3) -> (d0, d1, d3)>
// CHECK-LABEL: func.func @packed
// CHECK-SAME: (%[[X:[^:]*]]: tensor<1x7x48xf32>, %[[E:[^:]*]]: tensor<4x7xf32>)
// CHECK: %[[X0:.*]] = tensor.extract_slice %[[X]][0, 0, 0] [1, 7, 48] [1, 1, 1] : tensor<1x7x48xf32> to tensor<7x48xf32>
// CHECK: %[[S:.*]] = tensor.expand_shape %[[X0]] {{\[}}[0], [1, 2]] output_shape [7, 2, 24] : tensor<7x48xf32> into tensor<7x2x24xf32>
// CHECK: %[[PK:.*]] = linalg.transpose ins(%[[S]] : tensor<7x2x24xf32>) outs(%{{.*}} : tensor<2x7x24xf32>) permutation = [1, 0, 2]
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[PRJ]], #[[PJI]], #[[POUT]]], iterator_types = ["parallel", "parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[E]], %[[PK]] : tensor<4x7xf32>, tensor<2x7x24xf32>) outs(%{{.*}} : tensor<4x2x24xf32>)
// CHECK: tensor.collapse_shape %[[P]] {{\[}}[0], [1, 2]] : tensor<4x2x24xf32> into tensor<4x48xf32>
func.func @packed(%x: tensor<1x7x48xf32>, %e: tensor<4x7xf32>)
    -> tensor<1x4x48xf32> {
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64}
      : (tensor<1x7x48xf32>, tensor<4x7xf32>) -> tensor<1x4x48xf32>
  return %0 : tensor<1x4x48xf32>
}

// -----

func.func @attention_with_linformer_pattern(%x: tensor<1x8x16xf32>)
    -> tensor<1x8x16xf32> {
  // expected-error @+2 {{failed to legalize operation 'xf.attention'}}
  // expected-error @+1 {{'xf.attention' op has the linformer pattern "linformer(k = 4, sharing = headwise, seed = 0)": xf.attention cannot apply it itself (it has no E and F); project the keys and values with xf.linformer_projection and attend over the projections without the pattern, as the model builder does}}
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"linformer(k = 4)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}
