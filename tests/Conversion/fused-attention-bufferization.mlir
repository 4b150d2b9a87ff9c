// The fused attention kernel through the buffer stage: the key-block loop
// allocates and copies nothing (m, l, o and the score, maximum and
// rescaling scratch tiles are loop-carried and updated in place), K and V
// tiles are read in place (subviews), and the result is written straight
// into the output (no copy of the tile).
// RUN: xfc-opt %s --convert-xf-to-linalg --canonicalize --cse | xfc-opt --xf-buffer-stage | FileCheck %s

// CHECK-LABEL: func.func @xf_model
// CHECK: scf.forall
// CHECK: memref.subview %{{.*}} : memref<1x256x768xf32> to memref<32x64xf32, strided<[768, 1], offset: ?>>
// CHECK: scf.for
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK: memref.subview %{{.*}} : memref<1x256x768xf32> to memref<64x64xf32, strided<[768, 1], offset: ?>>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK: memref.subview %{{.*}} : memref<1x256x768xf32> to memref<64x64xf32, strided<[768, 1], offset: ?>>
// CHECK-NOT: memref.alloc
// CHECK-NOT: memref.copy
// CHECK: memref.subview %{{.*}} : memref<1x256x768xf32> to memref<32x64xf32, strided<[768, 1], offset: ?>>
// CHECK-NOT: memref.copy
// CHECK: return
func.func @xf_model(%q: tensor<1x256x768xf32>, %k: tensor<1x256x768xf32>,
                    %v: tensor<1x256x768xf32>, %len: tensor<1xi32>)
    -> tensor<1x256x768xf32> {
  %0 = xf.attention %q, %k, %v key_lengths(%len)
      {num_heads = 12 : i64, scale = 0.125 : f64, causal,
       xf.attention_kernel = {kind = "flash", block_q = 32 : i64, block_k = 64 : i64}}
      : (tensor<1x256x768xf32>, tensor<1x256x768xf32>, tensor<1x256x768xf32>,
         tensor<1xi32>) -> tensor<1x256x768xf32>
  return %0 : tensor<1x256x768xf32>
}
