// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xf-emit-entry-point | FileCheck %s
// With other names, the chunks written for the default names fail (hence
// `not`); the output of the one written for them is checked.
// RUN: not xfc-opt %s -split-input-file -xf-emit-entry-point='model-function=encoder entry-name=run_encoder' 2>/dev/null | FileCheck %s --check-prefix=NAMED

// One pointer per parameter of the model function, loaded from slot i of
// the array the entry point receives, in order.

// CHECK-LABEL: llvm.func @xf_model
// CHECK-SAME: (%{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr, %{{[^:]*}}: !llvm.ptr)
// CHECK-LABEL: llvm.func @xfc_entry
// CHECK-SAME: (%[[ARGV:[^:]*]]: !llvm.ptr) {
// CHECK: %[[S0:.*]] = llvm.getelementptr %[[ARGV]][0] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.*]] = llvm.load %[[S0]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S1:.*]] = llvm.getelementptr %[[ARGV]][1] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.load %[[S1]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[S2:.*]] = llvm.getelementptr %[[ARGV]][2] : (!llvm.ptr) -> !llvm.ptr, !llvm.ptr
// CHECK: %[[P2:.*]] = llvm.load %[[S2]] : !llvm.ptr -> !llvm.ptr
// CHECK: llvm.call @xf_model(%[[P0]], %[[P1]], %[[P2]]) : (!llvm.ptr, !llvm.ptr, !llvm.ptr) -> ()
// CHECK-NEXT: llvm.return
// CHECK-NOT: llvm.func @xfc_entry
module {
  llvm.func @xf_model(%ids: !llvm.ptr, %w: !llvm.ptr, %out: !llvm.ptr) {
    llvm.return
  }
}

// -----

// The names are options; with the default ones, only @xf_model is wrapped.

// NAMED-LABEL: llvm.func @run_encoder
// NAMED-SAME: (%[[ARGV:[^:]*]]: !llvm.ptr)
// NAMED: %[[S0:.*]] = llvm.getelementptr %[[ARGV]][0]
// NAMED: %[[P0:.*]] = llvm.load %[[S0]]
// NAMED: llvm.call @encoder(%[[P0]]) : (!llvm.ptr) -> ()
// NAMED-NOT: xfc_entry
// CHECK-LABEL: llvm.func @encoder
// CHECK: llvm.func @xfc_entry
// CHECK-NEXT: llvm.getelementptr
// CHECK-NEXT: llvm.load
// CHECK-NEXT: llvm.call @xf_model
// CHECK-NOT: run_encoder
module {
  llvm.func @encoder(%x: !llvm.ptr) {
    llvm.return
  }
  llvm.func @xf_model(%x: !llvm.ptr) {
    llvm.return
  }
}

// -----

// Diagnostics.

// expected-error @+1 {{xf-emit-entry-point: no llvm.func @xf_model (lower func to llvm with the bare-pointer calling convention first)}}
module {
  func.func @xf_model(%x: memref<4xf32>) {
    return
  }
}

// -----

// expected-error @+1 {{xf-emit-entry-point: @xfc_entry already exists}}
module {
  llvm.func @xf_model(%x: !llvm.ptr) {
    llvm.return
  }
  llvm.func @xfc_entry(%argv: !llvm.ptr) {
    llvm.return
  }
}

// -----

module {
  // expected-error @+1 {{xf-emit-entry-point: parameter of type 'i64' is not a pointer; the model function must take only tensors with static shapes}}
  llvm.func @xf_model(%x: !llvm.ptr, %n: i64) {
    llvm.return
  }
}
