// RUN: xfc-opt %s -split-input-file -xf-lower-strided-copies | FileCheck %s

// The real columns of a padded GEMM result copied to the output: the
// source is strided, so the copy becomes linalg.copy (loops later).

// CHECK-LABEL: func.func @strided_source
// CHECK-NOT: memref.copy
// CHECK: linalg.copy ins(%{{.*}} : memref<7x128xf32, strided<[144, 1]>>) outs(%{{.*}} : memref<7x128xf32>)
func.func @strided_source(%padded: memref<7x144xf32>, %out: memref<7x128xf32>) {
  %real = memref.subview %padded[0, 0] [7, 128] [1, 1]
      : memref<7x144xf32> to memref<7x128xf32, strided<[144, 1]>>
  memref.copy %real, %out : memref<7x128xf32, strided<[144, 1]>> to memref<7x128xf32>
  return
}

// -----

// Contiguous copies, identity layout or a dense subview, stay memcpys.

// CHECK-LABEL: func.func @contiguous
// CHECK-COUNT-2: memref.copy
// CHECK-NOT: linalg.copy
func.func @contiguous(%a: memref<7x128xf32>, %b: memref<7x128xf32>, %c: memref<14x128xf32>) {
  memref.copy %a, %b : memref<7x128xf32> to memref<7x128xf32>
  %rows = memref.subview %c[7, 0] [7, 128] [1, 1]
      : memref<14x128xf32> to memref<7x128xf32, strided<[128, 1], offset: 896>>
  memref.copy %a, %rows : memref<7x128xf32> to memref<7x128xf32, strided<[128, 1], offset: 896>>
  return
}
