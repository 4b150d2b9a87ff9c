// RUN: xfc-opt %s -split-input-file -xf-chunk-feed-forward=chunk-size=4 | FileCheck %s
// RUN: xfc-opt %s -split-input-file -xf-chunk-feed-forward=chunk-size=0 | FileCheck %s --check-prefix=OFF
// RUN: xfc-opt %s -split-input-file -xf-chunk-feed-forward=chunk-size=4 -xf-decompose-model-ops -xf-fuse-epilogue | FileCheck %s --check-prefix=FUSED
// RUN: not xfc-opt %s -xf-chunk-feed-forward=chunk-size=-1 2>&1 | FileCheck %s --check-prefix=NEGATIVE

// 14 rows in chunks of 4: a loop over three full chunks, then the two
// remaining rows; each chunk is the block on a [4, 16] slice, so the
// [rows, 32] intermediate is [4, 32] at a time.

// CHECK-LABEL: func.func @remainder
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W1:[^:]*]]: tensor<32x16xf32>, %[[B1:[^:]*]]: tensor<32xf32>, %[[W2:[^:]*]]: tensor<16x32xf32>)
// CHECK: %[[M:.*]] = tensor.collapse_shape %[[X]] {{\[\[}}0, 1], [2]] : tensor<2x7x16xf32> into tensor<14x16xf32>
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<14x16xf32>
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C12:.*]] = arith.constant 12 : index
// CHECK-DAG: %[[C4:.*]] = arith.constant 4 : index
// CHECK: %[[LOOP:.*]] = scf.for %[[I:.*]] = %[[C0]] to %[[C12]] step %[[C4]] iter_args(%[[ACC:.*]] = %[[INIT]]) -> (tensor<14x16xf32>) {
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[M]][%[[I]], 0] [4, 16] [1, 1]
// CHECK: %[[F:.*]] = xf.feed_forward gelu %[[ROWS]], fc1(%[[W1]], %[[B1]]), fc2(%[[W2]]) : ({{.*}}) -> tensor<4x16xf32>
// CHECK: %[[INS:.*]] = tensor.insert_slice %[[F]] into %[[ACC]][%[[I]], 0] [4, 16] [1, 1]
// CHECK: scf.yield %[[INS]]
// CHECK: %[[REST:.*]] = tensor.extract_slice %[[M]][12, 0] [2, 16] [1, 1]
// CHECK: %[[G:.*]] = xf.feed_forward gelu %[[REST]], {{.*}} -> tensor<2x16xf32>
// CHECK: %[[ALL:.*]] = tensor.insert_slice %[[G]] into %[[LOOP]][12, 0] [2, 16] [1, 1]
// CHECK: %[[OUT:.*]] = tensor.expand_shape %[[ALL]] {{\[\[}}0, 1], [2]] output_shape [2, 7, 16]
// CHECK: return %[[OUT]]

// OFF-LABEL: func.func @remainder
// OFF-NEXT: xf.feed_forward gelu %{{.*}} -> tensor<2x7x16xf32>

// After decomposition and epilogue fusion, each chunk is two linears, the
// first with the activation in its epilogue.
// FUSED-LABEL: func.func @remainder
// FUSED: scf.for
// FUSED: %[[H:.*]] = xf.linear %{{.*}}, %{{.*}}, %{{.*}} {activation = #xf<activation gelu>} : {{.*}} -> tensor<4x32xf32>
// FUSED: xf.linear %[[H]], %{{.*}} : {{.*}} -> tensor<4x16xf32>
// FUSED: scf.yield
// FUSED: xf.linear %{{.*}} {activation = #xf<activation gelu>} : {{.*}} -> tensor<2x32xf32>

// NEGATIVE: xf-chunk-feed-forward: chunk-size must be >= 0 (0 = off), found -1
func.func @remainder(%x: tensor<2x7x16xf32>, %w1: tensor<32x16xf32>,
    %b1: tensor<32xf32>, %w2: tensor<16x32xf32>) -> tensor<2x7x16xf32> {
  %f = xf.feed_forward gelu %x, fc1(%w1, %b1), fc2(%w2)
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>, tensor<16x32xf32>) -> tensor<2x7x16xf32>
  return %f : tensor<2x7x16xf32>
}

// -----

// 8 rows of a rank-2 input: two full chunks, no remainder, no reshapes.
// 4 rows or fewer: left alone.

// CHECK-LABEL: func.func @exact_and_small
// CHECK-NOT: tensor.collapse_shape
// CHECK: scf.for
// CHECK: xf.feed_forward relu %{{.*}} -> tensor<4x16xf32>
// CHECK: scf.yield
// CHECK-NOT: tensor.insert_slice
// CHECK: xf.feed_forward relu %{{.*}} : (tensor<1x4x16xf32>, {{.*}}) -> tensor<1x4x16xf32>
// CHECK: return
func.func @exact_and_small(%x: tensor<8x16xf32>, %y: tensor<1x4x16xf32>,
    %w1: tensor<32x16xf32>, %w2: tensor<16x32xf32>) -> (tensor<8x16xf32>, tensor<1x4x16xf32>) {
  %f = xf.feed_forward relu %x, fc1(%w1), fc2(%w2)
      : (tensor<8x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<8x16xf32>
  %g = xf.feed_forward relu %y, fc1(%w1), fc2(%w2)
      : (tensor<1x4x16xf32>, tensor<32x16xf32>, tensor<16x32xf32>) -> tensor<1x4x16xf32>
  return %f, %g : tensor<8x16xf32>, tensor<1x4x16xf32>
}
