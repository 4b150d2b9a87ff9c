// RUN: xfc-opt %s -allow-unregistered-dialect -split-input-file -xf-hoist-static-allocas | FileCheck %s

// A tile temporary inside a loop of a parallel region moves to the start
// of the region (one buffer per thread); one already at the top of the
// function stays; a dynamically sized one stays in its loop.

// CHECK-LABEL: func.func @hoist
// CHECK-NEXT: %[[TOP:.*]] = memref.alloca() : memref<4xf32>
// CHECK: omp.parallel {
// CHECK-NEXT: %[[TILE:.*]] = memref.alloca() : memref<32x64xf32>
// CHECK: scf.for
// CHECK-NOT: memref.alloca() : memref<32x64xf32>
// CHECK: memref.alloca(%{{.*}}) : memref<?xf32>
func.func @hoist(%n: index) {
  %top = memref.alloca() : memref<4xf32>
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c8 = arith.constant 8 : index
  omp.parallel {
    scf.for %i = %c0 to %c8 step %c1 {
      %tile = memref.alloca() : memref<32x64xf32>
      %dyn = memref.alloca(%n) : memref<?xf32>
      "test.use"(%tile, %dyn) : (memref<32x64xf32>, memref<?xf32>) -> ()
    }
    omp.terminator
  }
  return
}
