// RUN: not xfc-opt %s -xf-cpu-forall-to-openmp 2>&1 | FileCheck %s

// A forall still on tensors (before bufferization) is refused.
func.func @on_tensors(%t: tensor<8xf32>) -> tensor<8xf32> {
  %r = scf.forall (%i) in (8) shared_outs(%o = %t) -> (tensor<8xf32>) {
    scf.forall.in_parallel {
    }
  }
  return %r : tensor<8xf32>
}
// CHECK: error: xf-cpu-forall-to-openmp: expected a forall on buffers (no shared outputs); run after bufferization
