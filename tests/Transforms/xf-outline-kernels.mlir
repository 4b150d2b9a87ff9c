// RUN: xfc-opt %s --split-input-file --allow-unregistered-dialect --xf-outline-kernels -verify-diagnostics | FileCheck %s
// RUN: xfc-opt %s --split-input-file --allow-unregistered-dialect --xf-outline-kernels=profile=true -verify-diagnostics | FileCheck %s --check-prefix=PROF

// Two kernels on views of the arena. Each function gets its own copies of
// the constants and views it uses and takes only the model's arguments it
// needs; the untagged copy into the output joins the kernel before it.
// CHECK-LABEL: func.func private @xf_k0_l0_fc1
// CHECK-SAME: (%[[IN:.*]]: memref<4xf32>, %[[ARENA:.*]]: memref<64xi8>)
// CHECK-SAME: attributes {llvm.linkage = #llvm.linkage<internal>, passthrough = ["noinline"]}
// CHECK: %[[C0:.*]] = arith.constant 0 : index
// CHECK: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][] : memref<64xi8> to memref<4xf32>
// CHECK: memref.copy %[[IN]], %[[A]]
// CHECK-NEXT: return
// CHECK-LABEL: func.func private @xf_k1_l0_fc2
// CHECK-SAME: (%[[OUT:.*]]: memref<4xf32>, %[[ARENA:.*]]: memref<64xi8>)
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C16:.*]] = arith.constant 16 : index
// CHECK-DAG: %[[A:.*]] = memref.view %[[ARENA]][%[[C0]]][]
// CHECK-DAG: %[[B:.*]] = memref.view %[[ARENA]][%[[C16]]][]
// CHECK: memref.copy %[[A]], %[[B]]
// CHECK-NEXT: memref.copy %[[B]], %[[OUT]]
// CHECK-NEXT: return
// CHECK-LABEL: func.func @xf_model
// CHECK-SAME: (%[[IN:.*]]: memref<4xf32>, %[[OUT:.*]]: memref<4xf32>, %[[ARENA:.*]]: memref<64xi8> {xf.arena})
// CHECK-NEXT: call @xf_k0_l0_fc1(%[[IN]], %[[ARENA]])
// CHECK-NEXT: call @xf_k1_l0_fc2(%[[OUT]], %[[ARENA]])
// CHECK-NEXT: return

// With profiling: one more argument, the buffer [enable, run ticks,
// (ticks, calls) per kernel]; the flag is read once, and each call sits
// in one scf.if on it.
// PROF-LABEL: func.func @xf_model
// PROF-SAME: %[[PROFILE:[^:]*]]: memref<6xi64> {xf.profile})
// PROF: %[[FLAG:.*]] = memref.load %[[PROFILE]][%c0{{.*}}] : memref<6xi64>
// PROF: %[[ON:.*]] = arith.cmpi ne, %[[FLAG]], %c0_i64
// PROF: scf.if %[[ON]] {
// PROF: llvm.call_intrinsic "llvm.readcyclecounter"
// PROF: memref.store {{.*}}, %[[PROFILE]][%c1]
// PROF: }
// PROF: scf.if %[[ON]] {
// PROF-NEXT: %[[T0:.*]] = llvm.call_intrinsic "llvm.readcyclecounter"
// PROF-NEXT: call @xf_k0_l0_fc1
// PROF-NEXT: %[[T1:.*]] = llvm.call_intrinsic "llvm.readcyclecounter"
// PROF-NEXT: %[[D:.*]] = arith.subi %[[T1]], %[[T0]]
// PROF: memref.store {{.*}}, %[[PROFILE]][%c2]
// PROF: memref.store {{.*}}, %[[PROFILE]][%c3]
// PROF: } else {
// PROF-NEXT: call @xf_k0_l0_fc1
// PROF-NEXT: }
// PROF: scf.if %[[ON]] {
// PROF: call @xf_k1_l0_fc2
// PROF: memref.store {{.*}}, %[[PROFILE]][%c4]
// PROF: memref.store {{.*}}, %[[PROFILE]][%c5]
// PROF: } else {
// PROF-NEXT: call @xf_k1_l0_fc2
// PROF: scf.if %[[ON]] {
// PROF: llvm.call_intrinsic "llvm.readcyclecounter"
// PROF: memref.store {{.*}}, %[[PROFILE]][%c1]
// PROF: return
module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_l0_fc1"},
                                 {id = 1, symbol = "xf_k1_l0_fc2"}]} {
  func.func @xf_model(%in: memref<4xf32>, %out: memref<4xf32>,
                      %arena: memref<64xi8> {xf.arena}) {
    %c0 = arith.constant 0 : index
    %c16 = arith.constant 16 : index
    %a = memref.view %arena[%c0][] : memref<64xi8> to memref<4xf32>
    memref.copy %in, %a : memref<4xf32> to memref<4xf32> loc("xf.kernel.0"("l0.fc1"))
    %b = memref.view %arena[%c16][] : memref<64xi8> to memref<4xf32>
    memref.copy %a, %b : memref<4xf32> to memref<4xf32> loc("xf.kernel.1"("l0.fc2"))
    memref.copy %b, %out : memref<4xf32> to memref<4xf32>
    return
  }
}

// -----

// A kernel interrupted by another gives two functions; the second part
// counts ticks but not calls. A scalar one kernel computes and a later one
// uses is returned.
// CHECK-LABEL: func.func private @xf_k0_a
// CHECK-SAME: -> f32
// CHECK: %[[V:.*]] = "test.compute"
// CHECK: return %[[V]] : f32
// CHECK-LABEL: func.func private @xf_k1_b
// CHECK-LABEL: func.func private @xf_k0_a_part1
// CHECK-SAME: (%{{.*}}: memref<4xf32>, %{{.*}}: f32)
// CHECK: "test.use"
// CHECK-LABEL: func.func @xf_model
// CHECK: %[[V:.*]] = call @xf_k0_a(
// CHECK-NEXT: call @xf_k1_b(
// CHECK-NEXT: call @xf_k0_a_part1(%{{.*}}, %[[V]])
// PROF-LABEL: func.func @xf_model
// PROF: %[[V:.*]] = scf.if %{{.*}} -> (f32) {
// PROF: %[[R:.*]] = func.call @xf_k0_a
// PROF: memref.store {{.*}}[%c3]
// PROF: scf.yield %[[R]] : f32
// PROF: } else {
// PROF: func.call @xf_k0_a_part1(%{{.*}}, %[[V]])
// PROF: memref.store {{.*}}[%c2]
// PROF-NOT: [%c3]
// PROF: } else {
module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_a"},
                                 {id = 1, symbol = "xf_k1_b"}]} {
  func.func @xf_model(%x: memref<4xf32>) {
    %v = "test.compute"(%x) : (memref<4xf32>) -> f32 loc("xf.kernel.0"("a"))
    "test.other"(%x) : (memref<4xf32>) -> () loc("xf.kernel.1"("b"))
    "test.use"(%x, %v) : (memref<4xf32>, f32) -> () loc("xf.kernel.0"("a"))
    return
  }
}

// -----

// No kernel tags: nothing is outlined (the profile buffer is still added,
// so every artifact has the same entry ABI).
// CHECK-LABEL: func.func @xf_model
// CHECK-NEXT: "test.op"
// PROF-LABEL: func.func @xf_model
// PROF-SAME: memref<2xi64> {xf.profile}
func.func @xf_model(%x: memref<4xf32>) {
  "test.op"(%x) : (memref<4xf32>) -> ()
  return
}

// -----

module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_a"}]} {
  func.func @xf_model(%x: memref<4xf32>) {
    // Kernel-tagged locations name no file position: the error is "unknown".
    // expected-error @unknown {{xf-outline-kernels: op tagged as kernel 3, but xf.kernels lists 1 kernel(s)}}
    "test.op"(%x) : (memref<4xf32>) -> () loc("xf.kernel.3"("a"))
    return
  }
}

// -----

// expected-error @below {{xf-outline-kernels: ops are tagged with kernels but the module has no xf.kernels (run xf-form-kernels)}}
module {
  func.func @xf_model(%x: memref<4xf32>) {
    "test.op"(%x) : (memref<4xf32>) -> () loc("xf.kernel.0"("a"))
    return
  }
}

// -----

// expected-error @below {{xf-outline-kernels: xf.kernels[0] has no "symbol" string}}
module attributes {xf.kernels = [{id = 0}]} {
  func.func @xf_model(%x: memref<4xf32>) {
    "test.op"(%x) : (memref<4xf32>) -> () loc("xf.kernel.0"("a"))
    return
  }
}

// -----

// expected-error @below {{xf-outline-kernels: symbol @xf_k0_a of kernel 0 already exists}}
module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_a"}]} {
  func.func private @xf_k0_a()
  func.func @xf_model(%x: memref<4xf32>) {
    "test.op"(%x) : (memref<4xf32>) -> () loc("xf.kernel.0"("a"))
    return
  }
}

// -----

// A strided memref cannot cross a bare-pointer call.
module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_a"}]} {
  func.func @xf_model(%x: memref<4xf32, strided<[2]>>) {
    // expected-error @unknown {{xf-outline-kernels: kernel 0 would take a value of type 'memref<4xf32, strided<[2]>>'; kernel functions take only scalars and statically shaped identity-layout memrefs (the bare-pointer calling convention)}}
    "test.op"(%x) : (memref<4xf32, strided<[2]>>) -> () loc("xf.kernel.0"("a"))
    return
  }
}

// -----

// A memref returned as a bare pointer would lose its shape.
module attributes {xf.kernels = [{id = 0, symbol = "xf_k0_a"},
                                 {id = 1, symbol = "xf_k1_b"}]} {
  func.func @xf_model(%x: memref<4xf32>) {
    // expected-error @unknown {{xf-outline-kernels: kernel 0 would return a value of type 'memref<4xf32>'; kernel functions return only scalars}}
    %m = "test.make"(%x) : (memref<4xf32>) -> memref<4xf32> loc("xf.kernel.0"("a"))
    "test.use"(%m) : (memref<4xf32>) -> () loc("xf.kernel.1"("b"))
    return
  }
}

// -----

// expected-error @below {{xf-outline-kernels: no func.func @xf_model with a body}}
module {
  func.func @other() {
    return
  }
}

// -----

// expected-error @below {{xf-outline-kernels: expected a model function of one block (run before lowering control flow)}}
func.func @xf_model(%x: memref<4xf32>) {
  cf.br ^bb1
^bb1:
  return
}
