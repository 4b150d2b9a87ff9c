// RUN: xfc-opt %s --split-input-file --allow-unregistered-dialect --xf-plan-memory -verify-diagnostics | FileCheck %s
// RUN: xfc-opt %s --split-input-file --allow-unregistered-dialect --xf-plan-memory=poison-dead-buffers=true -verify-diagnostics | FileCheck %s --check-prefix=POISON

// a dies where b is born (they overlap at that copy), c is born after a
// died: c reuses a's bytes, b goes above them. Deallocs disappear.
// CHECK: module attributes {xf.memory_plan = {arena_bytes = 128 : i64, buffers = [
// CHECK-SAME: lower_bound_bytes = 128 : i64, naive_bytes = 192 : i64}}
// CHECK-LABEL: func.func @xf_model
// CHECK-SAME: %[[IN:[^:]*]]: memref<16xf32>, %[[OUT:[^:]*]]: memref<16xf32>, %[[ARENA:[^:]*]]: memref<128xi8> {xf.arena})
// CHECK-NOT: memref.alloc(
// CHECK: %[[A:.*]] = memref.view %[[ARENA]][%c0{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK: memref.copy %[[IN]], %[[A]]
// CHECK: %[[B:.*]] = memref.view %[[ARENA]][%c64{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK: memref.copy %[[A]], %[[B]]
// CHECK: %[[C:.*]] = memref.view %[[ARENA]][%c0{{.*}}][] : memref<128xi8> to memref<16xf32>
// CHECK: memref.copy %[[B]], %[[C]]
// CHECK: memref.copy %[[C]], %[[OUT]]
// CHECK-NOT: memref.dealloc
// CHECK: return

// Debug mode: NaN into each buffer right after its last use.
// POISON-LABEL: func.func @xf_model
// POISON-SAME: %[[ARENA:[^:]*]]: memref<128xi8> {xf.arena})
// POISON: %[[A:.*]] = memref.view %[[ARENA]]
// POISON: %[[B:.*]] = memref.view %[[ARENA]]
// POISON: memref.copy %[[A]], %[[B]]
// POISON: %[[NAN:.*]] = arith.constant 0x7FC00000 : f32
// POISON: %[[DEAD_A:.*]] = memref.view %[[ARENA]][%c0{{.*}}][] : memref<128xi8> to memref<16xf32>
// POISON: linalg.fill ins(%[[NAN]] : f32) outs(%[[DEAD_A]] : memref<16xf32>)
// POISON: %[[C:.*]] = memref.view %[[ARENA]]
// POISON: memref.copy %[[B]], %[[C]]
// POISON: linalg.fill
// POISON: memref.copy %[[C]]
// POISON: linalg.fill
// POISON: return
func.func @xf_model(%in: memref<16xf32>, %out: memref<16xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %a, %b : memref<16xf32> to memref<16xf32>
  memref.dealloc %a : memref<16xf32>
  %c = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %b, %c : memref<16xf32> to memref<16xf32>
  memref.dealloc %b : memref<16xf32>
  memref.copy %c, %out : memref<16xf32> to memref<16xf32>
  memref.dealloc %c : memref<16xf32>
  return
}

// -----

// An elementwise op whose input dies there writes its output over it, even
// through a reshape; the lender is not poisoned (its bytes live on).
#id = affine_map<(d0, d1) -> (d0, d1)>
// CHECK: module attributes {xf.memory_plan = {arena_bytes = 64 : i64
// CHECK-SAME: in_place_of = 0 : i64
// CHECK-LABEL: func.func @xf_model
// CHECK-SAME: %[[ARENA:[^:]*]]: memref<64xi8> {xf.arena})
// CHECK: %[[A:.*]] = memref.view %[[ARENA]][%c0{{.*}}][] : memref<64xi8> to memref<16xf32>
// CHECK: %[[A2:.*]] = memref.expand_shape %[[A]]
// CHECK: %[[B:.*]] = memref.view %[[ARENA]][%c0{{.*}}][] : memref<64xi8> to memref<4x4xf32>
// CHECK: linalg.generic {{.*}} ins(%[[A2]] : memref<4x4xf32>) outs(%[[B]] : memref<4x4xf32>)
// POISON-LABEL: func.func @xf_model
// POISON: linalg.generic
// POISON-NEXT: ^bb0
// POISON-NEXT: math.exp
// POISON-NEXT: linalg.yield
// POISON-NEXT: }
// POISON-NEXT: memref.copy
// POISON-NEXT: arith.constant 0x7FC00000
// POISON-NEXT: arith.constant 0 : index
// POISON-NEXT: memref.view
// POISON-NEXT: linalg.fill
// POISON-NEXT: return
func.func @xf_model(%in: memref<16xf32>, %out: memref<4x4xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  %a2 = memref.expand_shape %a [[0, 1]] output_shape [4, 4] : memref<16xf32> into memref<4x4xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  linalg.generic {indexing_maps = [#id, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a2 : memref<4x4xf32>) outs(%b : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32):
    %e = math.exp %x : f32
    linalg.yield %e : f32
  }
  memref.copy %b, %out : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

// A transposed read is not elementwise in place: element (i, j) of the
// output would overwrite (i, j) of the input before (j, i) reads it.
#id = affine_map<(d0, d1) -> (d0, d1)>
#t = affine_map<(d0, d1) -> (d1, d0)>
// CHECK: module attributes {xf.memory_plan = {arena_bytes = 128 : i64
// CHECK-NOT: in_place_of
// CHECK-LABEL: func.func @xf_model
func.func @xf_model(%in: memref<4x4xf32>, %out: memref<4x4xf32>) {
  %a = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  memref.copy %in, %a : memref<4x4xf32> to memref<4x4xf32>
  %b = memref.alloc() {alignment = 64 : i64} : memref<4x4xf32>
  linalg.generic {indexing_maps = [#t, #id], iterator_types = ["parallel", "parallel"]}
      ins(%a : memref<4x4xf32>) outs(%b : memref<4x4xf32>) {
  ^bb0(%x: f32, %y: f32):
    linalg.yield %x : f32
  }
  memref.copy %b, %out : memref<4x4xf32> to memref<4x4xf32>
  return
}

// -----

// An alloc in an scf.for body lives for the whole loop; a use through an
// op the pass does not know (returning a memref) extends the lifetime of
// what it may alias.
// CHECK: module attributes {xf.memory_plan = {arena_bytes = 128 : i64
// CHECK-LABEL: func.func @xf_model
// CHECK-SAME: %[[ARENA:[^:]*]]: memref<128xi8> {xf.arena})
// CHECK: %[[A:.*]] = memref.view %[[ARENA]][%c0{{.*}}][]
// CHECK: scf.for
// CHECK-NEXT: arith.constant
// CHECK-NEXT: %[[T:.*]] = memref.view %[[ARENA]][%c64{{.*}}][]
// CHECK-NOT: memref.dealloc
// CHECK: %[[B:.*]] = memref.view %[[ARENA]][%c0{{.*}}][]
// CHECK: "foo.opaque"(%[[B]])
// CHECK: %[[D:.*]] = memref.view %[[ARENA]][%c64{{.*}}][]
// CHECK-NOT: memref.alloc(
// CHECK: return
func.func @xf_model(%in: memref<16xf32>, %out: memref<16xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  %a = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %in, %a : memref<16xf32> to memref<16xf32>
  scf.for %i = %c0 to %c4 step %c1 {
    %t = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
    memref.copy %a, %t : memref<16xf32> to memref<16xf32>
    memref.copy %t, %out : memref<16xf32> to memref<16xf32>
    memref.dealloc %t : memref<16xf32>
  }
  %b = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  %alias = "foo.opaque"(%b) : (memref<16xf32>) -> memref<16xf32>
  memref.copy %in, %b : memref<16xf32> to memref<16xf32>
  // b is still alive here, through %alias, so d cannot take its bytes.
  %d = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
  memref.copy %in, %d : memref<16xf32> to memref<16xf32>
  memref.copy %alias, %out : memref<16xf32> to memref<16xf32>
  memref.copy %d, %out : memref<16xf32> to memref<16xf32>
  return
}

// -----

// Per-thread temporaries inside scf.forall go on the stack, at the start of
// the forall body (not once per inner iteration); nothing is left for the
// arena.
// CHECK: module attributes {xf.memory_plan = {arena_bytes = 0 : i64
// CHECK-LABEL: func.func @xf_model
// CHECK-SAME: memref<0xi8> {xf.arena})
// CHECK: scf.forall
// CHECK-NEXT: %[[T:.*]] = memref.alloca() {alignment = 64 : i64} : memref<16xf32>
// CHECK: scf.for
// CHECK-NOT: memref.alloc(
// CHECK: memref.copy %{{.*}}, %[[T]]
// CHECK-NOT: memref.dealloc
func.func @xf_model(%in: memref<64xf32>, %out: memref<64xf32>) {
  %c0 = arith.constant 0 : index
  %c1 = arith.constant 1 : index
  %c4 = arith.constant 4 : index
  scf.forall (%i) in (4) {
    scf.for %j = %c0 to %c4 step %c1 {
      %t = memref.alloc() {alignment = 64 : i64} : memref<16xf32>
      %s = memref.subview %in[0] [16] [1] : memref<64xf32> to memref<16xf32, strided<[1]>>
      memref.copy %s, %t : memref<16xf32, strided<[1]>> to memref<16xf32>
      memref.dealloc %t : memref<16xf32>
    }
  }
  return
}

// -----

func.func @xf_model(%in: memref<64xf32>) {
  scf.forall (%i) in (4) {
    // expected-error @+1 {{a per-thread temporary of 131072 bytes inside an scf.forall/scf.parallel body exceeds the stack limit of 65536 bytes}}
    %t = memref.alloc() : memref<32768xf32>
    memref.copy %t, %t : memref<32768xf32> to memref<32768xf32>
  }
  return
}

// -----

func.func @xf_model(%n: index) {
  // expected-error @+1 {{can only plan statically shaped memrefs with the identity layout in the default memory space, found 'memref<?xf32>'}}
  %a = memref.alloc(%n) : memref<?xf32>
  return
}

// -----

func.func @xf_model() -> memref<16xf32> {
  %a = memref.alloc() : memref<16xf32>
  // expected-error @+1 {{the model function returns an intermediate buffer}}
  return %a : memref<16xf32>
}

// -----

// expected-error @+1 {{no func.func @xf_model}}
module {
  func.func @other() {
    return
  }
}

// -----

// expected-error @+1 {{the module is already planned}}
module attributes {xf.memory_plan = {}} {
  func.func @xf_model() {
    return
  }
}

// -----

// A declaration has no schedule to plan.
// expected-error @+1 {{xf-plan-memory: expected @xf_model to have a body of one block (a straight-line schedule)}}
func.func private @xf_model(memref<4xf32>)

// -----

func.func @xf_model(%n: index) {
  scf.forall (%i) in (4) {
    // expected-error @+1 {{xf-plan-memory: a per-thread temporary must have a static shape, found 'memref<?xf32>'}}
    %t = memref.alloc(%n) : memref<?xf32>
    memref.copy %t, %t : memref<?xf32> to memref<?xf32>
  }
  return
}
