// RUN: xfc-opt %s -split-input-file -xf-cpu-tile-and-vectorize -canonicalize -cse | FileCheck %s
// RUN: xfc-opt %s -split-input-file -xf-cpu-tile-and-vectorize='vector-width=16 parallel=false' -canonicalize -cse | FileCheck %s --check-prefix=AVX512
// RUN: not xfc-opt %s -xf-cpu-tile-and-vectorize='vector-width=6' 2>&1 | FileCheck %s --check-prefix=WIDTH

// WIDTH: error: xf-cpu-tile-and-vectorize: vector-width must be 4, 8 or 16, got 6

// A [K, N] weight: thread tiles in an scf.forall with the bias broadcast
// fused into each tile, a kc = 256 slice of k, 4 x 24 register tiles whose
// twelve 8-wide accumulators are carried by the unit-k loop.

// CHECK-LABEL: func.func @matmul_kn
// CHECK: scf.forall (%{{.*}}, %{{.*}}) = (0, 0) to (128, 768) step (64, 192)
// CHECK: linalg.broadcast
// CHECK: scf.for %{{.*}} = %c0 to %c768 step %c256
// CHECK: scf.for %{{.*}} = %c0 to %c192 step %c24
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c4
// CHECK: scf.for %{{.*}} = %c0 to %c256 step %c1 iter_args({{.*}}) -> (vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>)
// CHECK-COUNT-12: vector.contract
// CHECK: scf.forall.in_parallel
// AVX512-LABEL: func.func @matmul_kn
// AVX512-NOT: scf.forall
// AVX512: scf.for %{{.*}} = %c0 to %c128 step %c64
// AVX512: scf.for %{{.*}} = %c0 to %c768 step %c384
// AVX512: scf.for %{{.*}} = %c0 to %c768 step %c128
// AVX512: scf.for %{{.*}} = %c0 to %c384 step %c48
// AVX512: scf.for %{{.*}} = %c0 to %c64 step %c8
// AVX512: -> (vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>,
// AVX512-COUNT-24: vector.contract
#mk = affine_map<(m, k, n) -> (m, k)>
#kn = affine_map<(m, k, n) -> (k, n)>
#mn = affine_map<(m, k, n) -> (m, n)>
func.func @matmul_kn(%a: tensor<128x768xf32>, %b: tensor<768x768xf32>,
                     %bias: tensor<768xf32>) -> tensor<128x768xf32> {
  %e = tensor.empty() : tensor<128x768xf32>
  %acc = linalg.broadcast ins(%bias : tensor<768xf32>)
      outs(%e : tensor<128x768xf32>) dimensions = [0]
  %r = linalg.generic {indexing_maps = [#mk, #kn, #mn],
                       iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b : tensor<128x768xf32>, tensor<768x768xf32>)
      outs(%acc : tensor<128x768xf32>) {
  ^bb0(%x: f32, %y: f32, %c: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<128x768xf32>
  return %r : tensor<128x768xf32>
}

// -----

// Packed panels [N/24, K, 24]: the panel index is an outer n loop tiled by
// one (4 panels: fewer than a thread tile's 8, so only m is split across
// threads); k = 300 is one full kc slice and a ragged one; m = 77 leaves a
// peeled remainder (m mod 4 rows) that stays scalar.

// CHECK-LABEL: func.func @matmul_packed
// CHECK: scf.forall (%{{.*}}) = (0) to (77) step (64)
// CHECK: linalg.fill
// CHECK: scf.for %{{.*}} = %c0 to %c300 step %c256
// CHECK: scf.for %{{.*}} = %c0 to %c4 step %c1
// CHECK: -> (vector<1x1x8xf32>,
// CHECK-COUNT-12: vector.contract
// CHECK: linalg.generic
// CHECK-SAME: ins({{.*}} : tensor<?x1xf32>, tensor<1x1x24xf32>)
#A = affine_map<(m, j, k, i) -> (m, k)>
#B = affine_map<(m, j, k, i) -> (j, k, i)>
#C = affine_map<(m, j, k, i) -> (m, j, i)>
func.func @matmul_packed(%a: tensor<77x300xf32>, %w: tensor<4x300x24xf32>)
    -> tensor<77x4x24xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<77x4x24xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<77x4x24xf32>)
      -> tensor<77x4x24xf32>
  %r = linalg.generic {indexing_maps = [#A, #B, #C],
                       iterator_types = ["parallel", "parallel", "reduction",
                                         "parallel"]}
      ins(%a, %w : tensor<77x300xf32>, tensor<4x300x24xf32>)
      outs(%acc : tensor<77x4x24xf32>) {
  ^bb0(%x: f32, %y: f32, %c: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<77x4x24xf32>
  return %r : tensor<77x4x24xf32>
}

// -----

// A GELU epilogue on packed panels (24 wide: the register tile of 8-float
// vectors; 8 panels, one thread tile, so the tile is static) runs on each thread tile one vector of `width` outputs at a
// time: erf becomes a polynomial on vector<8xf32>
// (its chains of FMAs as contractable multiply-adds, so no libm call is
// left, scalar or per lane).

// CHECK-LABEL: func.func @packed_gelu_epilogue
// CHECK: scf.forall
// CHECK-COUNT-12: vector.contract
// CHECK: scf.for %{{.*}} = %c0 to %c64 step %c1
// CHECK: scf.for %{{.*}} = %c0 to %c24 step %c8
// CHECK: vector.transfer_read {{.*}} vector<8xf32>
// CHECK-NOT: math.erf
// CHECK-NOT: math.fma
// CHECK: arith.mulf {{.*}} fastmath<contract> : vector<8xf32>
// CHECK: vector.transfer_write {{.*}} : vector<8xf32>
#A1 = affine_map<(m, j, k, i) -> (m, k)>
#B1 = affine_map<(m, j, k, i) -> (j, k, i)>
#C1 = affine_map<(m, j, k, i) -> (m, j, i)>
#E1 = affine_map<(m, j, i) -> (m, j, i)>
func.func @packed_gelu_epilogue(%a: tensor<128x64xf32>, %w: tensor<8x64x24xf32>)
    -> tensor<128x8x24xf32> {
  %zero = arith.constant 0.0 : f32
  %half = arith.constant 0.5 : f32
  %one = arith.constant 1.0 : f32
  %rsqrt2 = arith.constant 0.707106769 : f32
  %e = tensor.empty() : tensor<128x8x24xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<128x8x24xf32>)
      -> tensor<128x8x24xf32>
  %r = linalg.generic {indexing_maps = [#A1, #B1, #C1],
                       iterator_types = ["parallel", "parallel", "reduction",
                                         "parallel"]}
      ins(%a, %w : tensor<128x64xf32>, tensor<8x64x24xf32>)
      outs(%acc : tensor<128x8x24xf32>) {
  ^bb0(%x: f32, %y: f32, %c: f32):
    %p = arith.mulf %x, %y : f32
    %s = arith.addf %c, %p : f32
    linalg.yield %s : f32
  } -> tensor<128x8x24xf32>
  %g = linalg.generic {indexing_maps = [#E1],
                       iterator_types = ["parallel", "parallel", "parallel"]}
      outs(%r : tensor<128x8x24xf32>) {
  ^bb0(%v: f32):
    %t = arith.mulf %v, %rsqrt2 : f32
    %f = math.erf %t : f32
    %u = arith.addf %f, %one : f32
    %h = arith.mulf %v, %half : f32
    %o = arith.mulf %h, %u : f32
    linalg.yield %o : f32
  } -> tensor<128x8x24xf32>
  return %g : tensor<128x8x24xf32>
}

// -----

// An element-wise consumer that reads another operand through a shifted
// (not projected-permutation) map, as Transformer-XL's relative shift does,
// is not taken as the contraction's epilogue (epilogue tiles are
// vectorized, which needs projected-permutation maps): the contraction is tiled alone (one thread tile, folded
// away) and the consumer stays one op after it, reading its result.

// CHECK-LABEL: func.func @shifted_consumer
// CHECK-NOT: linalg.generic
// CHECK: %[[C:.*]] = scf.for
// CHECK-COUNT-12: vector.contract
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<64x111xf32>) outs(%[[C]] : tensor<64x48xf32>)
// CHECK-NEXT: ^bb0
// CHECK-NEXT: arith.addf
// CHECK: return
#A2 = affine_map<(m, k, n) -> (m, k)>
#B2 = affine_map<(m, k, n) -> (k, n)>
#C2 = affine_map<(m, k, n) -> (m, n)>
#S2 = affine_map<(i, j) -> (i, j - i + 63)>
#I2 = affine_map<(i, j) -> (i, j)>
func.func @shifted_consumer(%a: tensor<64x32xf32>, %b: tensor<32x48xf32>,
                            %p: tensor<64x111xf32>) -> tensor<64x48xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<64x48xf32>
  %acc = linalg.fill ins(%zero : f32) outs(%e : tensor<64x48xf32>)
      -> tensor<64x48xf32>
  %c = linalg.generic {indexing_maps = [#A2, #B2, #C2],
                       iterator_types = ["parallel", "reduction", "parallel"]}
      ins(%a, %b : tensor<64x32xf32>, tensor<32x48xf32>)
      outs(%acc : tensor<64x48xf32>) {
  ^bb0(%x: f32, %y: f32, %s: f32):
    %m = arith.mulf %x, %y : f32
    %r = arith.addf %s, %m : f32
    linalg.yield %r : f32
  } -> tensor<64x48xf32>
  %l = linalg.generic {indexing_maps = [#S2, #I2],
                       iterator_types = ["parallel", "parallel"]}
      ins(%p : tensor<64x111xf32>) outs(%c : tensor<64x48xf32>) {
  ^bb0(%q: f32, %v: f32):
    %r = arith.addf %v, %q : f32
    linalg.yield %r : f32
  } -> tensor<64x48xf32>
  return %l : tensor<64x48xf32>
}

// -----

// A contraction written (m, n, k), k innermost, inside a kernel's own
// forall (as the kernelized attention's products): n is made the innermost
// loop, so the micro tiles read rows of B as vectors (not one scalar per
// element); n = 256 is split at 192 (the thread tile) so the 64-wide tail
// is one static thread tile, and every register tile, the 4 x 16 remainders
// included, is vectorized: no matmul-form linalg.generic is left.

// CHECK-LABEL: func.func @nested_mnk
// CHECK: scf.forall
// CHECK-NOT: scf.forall
// CHECK: -> (vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>)
// CHECK: vector.contract {{.*}} iterator_types = ["parallel", "reduction", "parallel"]
// CHECK: -> (vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>, vector<1x8xf32>)
// CHECK-NOT: linalg.generic
// CHECK: scf.forall.in_parallel
#amk = affine_map<(m, n, k) -> (m, k)>
#bkn = affine_map<(m, n, k) -> (k, n)>
#cmn = affine_map<(m, n, k) -> (m, n)>
func.func @nested_mnk(%a: tensor<2x64x64xf32>, %b: tensor<64x256xf32>)
    -> tensor<2x64x256xf32> {
  %zero = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<2x64x256xf32>
  %r = scf.forall (%h) in (2) shared_outs(%o = %e) -> (tensor<2x64x256xf32>) {
    %ah = tensor.extract_slice %a[%h, 0, 0] [1, 64, 64] [1, 1, 1]
        : tensor<2x64x64xf32> to tensor<64x64xf32>
    %t = tensor.empty() : tensor<64x256xf32>
    %acc = linalg.fill ins(%zero : f32) outs(%t : tensor<64x256xf32>)
        -> tensor<64x256xf32>
    %p = linalg.generic {indexing_maps = [#amk, #bkn, #cmn],
                         iterator_types = ["parallel", "parallel", "reduction"]}
        ins(%ah, %b : tensor<64x64xf32>, tensor<64x256xf32>)
        outs(%acc : tensor<64x256xf32>) {
    ^bb0(%x: f32, %y: f32, %c: f32):
      %m = arith.mulf %x, %y : f32
      %s = arith.addf %c, %m : f32
      linalg.yield %s : f32
    } -> tensor<64x256xf32>
    scf.forall.in_parallel {
      tensor.parallel_insert_slice %p into %o[%h, 0, 0] [1, 64, 256] [1, 1, 1]
          : tensor<64x256xf32> into tensor<2x64x256xf32>
    }
  }
  return %r : tensor<2x64x256xf32>
}
