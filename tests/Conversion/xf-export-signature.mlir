// RUN: xfc-opt %s -split-input-file -xf-export-signature -verify-diagnostics | FileCheck %s

// The signature lists the number of arguments, then each one's size in
// bytes (i32 and f32 are 4 bytes an element).
// CHECK: memref.global "public" constant @xfc_signature : memref<4xi64> = dense<[3, 56, 2048, 256]>
func.func @xf_model(%ids: memref<2x7xi32>, %w: memref<16x32xf32>, %out: memref<2x32xf32>) {
  return
}

// -----

// expected-error @below {{xf-export-signature: no func.func @xf_model}}
module {
  func.func @not_the_model(%x: memref<4xf32>) {
    return
  }
}

// -----

// expected-error @below {{xf-export-signature: argument 0 must be a statically shaped memref, found 'tensor<4xf32>' (run after bufferization)}}
func.func @xf_model(%x: tensor<4xf32>) {
  return
}

// -----

// Running the pass twice would emit a second signature.
// expected-error @below {{xf-export-signature: @xfc_signature already exists}}
module {
  func.func @xf_model(%x: memref<4xf32>) {
    return
  }
  llvm.mlir.global constant @xfc_signature(dense<[1, 16]> : tensor<2xi64>) : !llvm.array<2 x i64>
}
