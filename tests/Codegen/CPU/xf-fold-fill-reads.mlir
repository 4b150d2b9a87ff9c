// RUN: xfc-opt %s -xf-fold-fill-reads | FileCheck %s

// The zero accumulator of a GEMM tile: reads of the filled tensor, directly
// or through a slice, become broadcasts of the fill value.
// CHECK-LABEL: func.func @reads_of_fill
// CHECK-SAME: (%[[V:.*]]: f32)
// CHECK-NOT: vector.transfer_read
// CHECK: %[[A:.*]] = vector.broadcast %[[V]] : f32 to vector<1x16xf32>
// CHECK: %[[B:.*]] = vector.broadcast %[[V]] : f32 to vector<1x16xf32>
// CHECK: return %[[A]], %[[B]]
func.func @reads_of_fill(%v: f32) -> (vector<1x16xf32>, vector<1x16xf32>) {
  %c0 = arith.constant 0 : index
  %c7 = arith.constant 7 : index
  %pad = arith.constant 0.0 : f32
  %e = tensor.empty() : tensor<14x64xf32>
  %f = linalg.fill ins(%v : f32) outs(%e : tensor<14x64xf32>) -> tensor<14x64xf32>
  %a = vector.transfer_read %f[%c7, %c0], %pad {in_bounds = [true, true]}
      : tensor<14x64xf32>, vector<1x16xf32>
  %s = tensor.extract_slice %f[0, 0] [8, 48] [1, 1]
      : tensor<14x64xf32> to tensor<8x48xf32>
  %b = vector.transfer_read %s[%c7, %c0], %pad {in_bounds = [true, true]}
      : tensor<8x48xf32>, vector<1x16xf32>
  return %a, %b : vector<1x16xf32>, vector<1x16xf32>
}

// Reads that may leave the tensor (padding), of another producer, or of a
// buffer stay reads.
// CHECK-LABEL: func.func @other_reads
// CHECK-COUNT-3: vector.transfer_read
func.func @other_reads(%v: f32, %t: tensor<8x48xf32>, %m: memref<8x48xf32>)
    -> (vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>) {
  %c0 = arith.constant 0 : index
  %c40 = arith.constant 40 : index
  %pad = arith.constant 1.0 : f32
  %e = tensor.empty() : tensor<8x48xf32>
  %f = linalg.fill ins(%v : f32) outs(%e : tensor<8x48xf32>) -> tensor<8x48xf32>
  %a = vector.transfer_read %f[%c0, %c40], %pad {in_bounds = [true, false]}
      : tensor<8x48xf32>, vector<1x16xf32>
  %b = vector.transfer_read %t[%c0, %c0], %pad {in_bounds = [true, true]}
      : tensor<8x48xf32>, vector<1x16xf32>
  %c = vector.transfer_read %m[%c0, %c0], %pad {in_bounds = [true, true]}
      : memref<8x48xf32>, vector<1x16xf32>
  return %a, %b, %c : vector<1x16xf32>, vector<1x16xf32>, vector<1x16xf32>
}
