// RUN: xfc-opt %s -split-input-file -xf-cpu-forall-to-openmp | FileCheck %s

// A 2-D forall: one omp.parallel region; each thread takes the block
// [t * ceil(N/T), min((t+1) * ceil(N/T), N)) of the 2 x 4 = 8 linearized
// iterations, last dimension fastest, as an scf.for. No worksharing loop.

// CHECK-DAG: func.func private @omp_get_thread_num() -> i32
// CHECK-DAG: func.func private @omp_get_num_threads() -> i32
// CHECK-LABEL: func.func @tiles
// CHECK-NOT: omp.wsloop
// CHECK: omp.parallel {
// CHECK: %[[T:.*]] = {{.*}}call @omp_get_thread_num() : () -> i32
// CHECK: %[[N:.*]] = {{.*}}call @omp_get_num_threads() : () -> i32
// CHECK: %[[CHUNK:.*]] = arith.ceildivsi %{{.*}}, %{{.*}} : index
// CHECK: %[[BEGIN:.*]] = arith.minsi
// CHECK: %[[END:.*]] = arith.minsi
// CHECK: scf.for %[[I:.*]] = %[[BEGIN]] to %[[END]]
// CHECK: arith.remsi %[[I]]
// CHECK: arith.divsi %[[I]]
// CHECK: memref.subview
// CHECK: linalg.fill
// CHECK: omp.terminator
// CHECK-NOT: scf.forall
func.func @tiles(%out: memref<128x768xf32>) {
  %zero = arith.constant 0.0 : f32
  scf.forall (%i, %j) = (0, 0) to (128, 768) step (64, 192) {
    %tile = memref.subview %out[%i, %j] [64, 192] [1, 1]
        : memref<128x768xf32> to memref<64x192xf32, strided<[768, 1], offset: ?>>
    linalg.fill ins(%zero : f32)
        outs(%tile : memref<64x192xf32, strided<[768, 1], offset: ?>>)
  }
  return
}
