// The fused attention lowering of convert-xf-to-linalg (FusedAttention.cpp),
// for xf.attention ops marked by xf-fuse-attention. The unfused lowering of
// unmarked ops is tested in convert-xf-to-linalg.mlir.
// RUN: xfc-opt %s -split-input-file -verify-diagnostics -pass-pipeline='builtin.module(func.func(convert-xf-to-linalg,canonicalize,cse))' | FileCheck %s

// Dense, sizes divisible by the 32 x 64 tiles: a forall over (batch, head,
// query block), a loop over both key blocks, static tiles, no mask, and no
// [Sq, Sk] = 128 x 128 tensor anywhere. The loop carries m, l, o and three
// scratch tiles (scores, row maximum, rescaling factors), all updated in
// place so bufferization gives each one buffer for the whole loop.

// CHECK-LABEL: func.func @dense
// CHECK-NOT: 128x128
// CHECK: %[[OUT:.*]] = scf.forall (%[[B:.*]], %[[H:.*]], %[[QB:.*]]) in (2, 2, 4) shared_outs(%[[ACC:.*]] = %{{.*}}) -> (tensor<2x128x64xf32>)
// CHECK: %[[ROW:.*]] = arith.muli %[[QB]], %c32
// CHECK: %[[COL:.*]] = arith.muli %[[H]], %c32
// CHECK: %[[QT:.*]] = tensor.extract_slice %{{.*}}[%[[B]], %[[ROW]], %[[COL]]] [1, 32, 32] [1, 1, 1] : tensor<2x128x64xf32> to tensor<32x32xf32>
// CHECK: %[[QS:.*]] = linalg.generic {{.*}} ins(%[[QT]] : tensor<32x32xf32>)
// CHECK: arith.mulf %{{.*}}, %cst{{.*}} : f32
// CHECK: %[[LOOP:.*]]:6 = scf.for %[[KB:.*]] = %c0 to %c2 step %c1 iter_args(%[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}, %[[O:.*]] = %{{.*}}, %[[SS:.*]] = %{{.*}}, %[[MS:.*]] = %{{.*}}, %[[AS:.*]] = %{{.*}}) -> (tensor<32xf32>, tensor<32xf32>, tensor<32x32xf32>, tensor<32x64xf32>, tensor<32xf32>, tensor<32xf32>)
// CHECK: %[[KT:.*]] = tensor.extract_slice %{{.*}} [1, 64, 32] [1, 1, 1] : tensor<2x128x64xf32> to tensor<64x32xf32>
// CHECK-NOT: scf.if
// CHECK: %[[S0:.*]] = linalg.fill ins(%{{.*}}) outs(%[[SS]] : tensor<32x64xf32>)
// CHECK: %[[S:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[QS]], %[[KT]] : tensor<32x32xf32>, tensor<64x32xf32>) outs(%[[S0]] : tensor<32x64xf32>)
// CHECK: arith.mulf {{.*}} fastmath<reassoc,contract>
// CHECK: %[[MAX0:.*]] = linalg.fill ins(%{{.*}}) outs(%[[MS]] : tensor<32xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[S]] : tensor<32x64xf32>) outs(%[[MAX0]] : tensor<32xf32>)
// CHECK: %[[ROWS:.*]]:3 = linalg.generic {{.*}} ins(%[[MAX]] : tensor<32xf32>) outs(%[[AS]], %[[M]], %[[L]] : tensor<32xf32>, tensor<32xf32>, tensor<32xf32>)
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%[[ROWS]]#1 : tensor<32xf32>) outs(%[[S]] : tensor<32x64xf32>)
// CHECK: math.exp
// CHECK: %[[LNEW:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction"]} ins(%[[P]] : tensor<32x64xf32>) outs(%[[ROWS]]#2 : tensor<32xf32>)
// CHECK: %[[OS:.*]] = linalg.generic {{.*}} ins(%[[ROWS]]#0 : tensor<32xf32>) outs(%[[O]] : tensor<32x32xf32>)
// CHECK: %[[ONEW:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%[[P]], %{{.*}} : tensor<32x64xf32>, tensor<64x32xf32>) outs(%[[OS]] : tensor<32x32xf32>)
// CHECK: scf.yield %[[ROWS]]#1, %[[LNEW]], %[[ONEW]], %[[P]], %[[MAX]], %[[ROWS]]#0
// CHECK: %[[DST:.*]] = tensor.extract_slice %[[ACC]][%[[B]], %[[ROW]], %[[COL]]] [1, 32, 32] [1, 1, 1]
// CHECK: %[[RES:.*]] = linalg.generic {{.*}} ins(%[[LOOP]]#1, %[[LOOP]]#2 : tensor<32xf32>, tensor<32x32xf32>) outs(%[[DST]] : tensor<32x32xf32>)
// CHECK: arith.divf
// CHECK: arith.cmpf ogt
// CHECK: scf.forall.in_parallel
// CHECK: tensor.parallel_insert_slice %[[RES]] into %[[ACC]][%[[B]], %[[ROW]], %[[COL]]] [1, 32, 32] [1, 1, 1]
// CHECK-NOT: 128x128
// CHECK: return %[[OUT]]
func.func @dense(%q: tensor<2x128x64xf32>) -> tensor<2x128x64xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 32 : i64, block_k = 64 : i64}}
      : (tensor<2x128x64xf32>, tensor<2x128x64xf32>, tensor<2x128x64xf32>)
      -> tensor<2x128x64xf32>
  return %0 : tensor<2x128x64xf32>
}

// -----

// Causal with key lengths: the key loop stops at the diagonal,
// min(2, (min(qFirst + 32, 128) - 1) / 64 + 1), and at ceil(len / 64); a
// block is masked only when the diagonal crosses it (its last key,
// kFirst + 63, is after the first row) or it reaches past the length.

// CHECK-LABEL: func.func @causal
// CHECK-NOT: 128x128
// CHECK: scf.forall (%[[B:.*]], %{{.*}}, %[[QB:.*]]) in (2, 2, 4)
// CHECK: %[[FIRST:.*]] = arith.muli %[[QB]], %c32
// CHECK: %[[RAW:.*]] = tensor.extract %{{.*}}[%[[B]]] : tensor<2xi32>
// CHECK: %[[LEN0:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[LEN:.*]] = arith.maxsi %[[LEN0]], %c0
// CHECK: %[[END:.*]] = arith.addi %[[FIRST]], %c32
// CHECK: %[[ENDC:.*]] = arith.minsi %[[END]], %c128
// CHECK: %[[LAST:.*]] = arith.subi %[[ENDC]], %c1
// CHECK: %[[LASTB:.*]] = arith.divui %[[LAST]], %c64
// CHECK: %[[NB:.*]] = arith.addi %[[LASTB]], %c1
// CHECK: %[[DIAG:.*]] = arith.minsi %[[NB]], %c2
// CHECK: %[[LENR:.*]] = arith.addi %[[LEN]], %c63
// CHECK: %[[LENB:.*]] = arith.divui %[[LENR]], %c64
// CHECK: %[[UB:.*]] = arith.minsi %[[DIAG]], %[[LENB]]
// CHECK: scf.for %[[KB:.*]] = %c0 to %[[UB]] step %c1
// CHECK: %[[KFIRST:.*]] = arith.muli %[[KB]], %c64
// CHECK: %[[KEND:.*]] = arith.addi %[[KFIRST]], %c64
// CHECK: %[[KLAST:.*]] = arith.addi %[[KFIRST]], %c63
// CHECK: %[[CROSS:.*]] = arith.cmpi sgt, %[[KLAST]], %[[FIRST]]
// CHECK: %[[PAST:.*]] = arith.cmpi sgt, %[[KEND]], %[[LEN]]
// CHECK: %[[NEED:.*]] = arith.ori %[[CROSS]], %[[PAST]]
// CHECK: scf.if %[[NEED]] -> (tensor<32x64xf32>)
// CHECK: linalg.index 0
// CHECK: linalg.index 1
// CHECK: arith.cmpi sgt
// CHECK: arith.cmpi sge, %{{.*}}, %[[LEN]]
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %{{.*}} : f32
// CHECK: } else {
// CHECK-NOT: 128x128
// CHECK: return
func.func @causal(%q: tensor<2x128x64xf32>, %len: tensor<2xi32>)
    -> tensor<2x128x64xf32> {
  %0 = xf.attention %q, %q, %q key_lengths(%len)
      {num_heads = 2 : i64, scale = 0.125 : f64, causal,
       xf.attention_kernel = {kind = "flash", block_q = 32 : i64, block_k = 64 : i64}}
      : (tensor<2x128x64xf32>, tensor<2x128x64xf32>, tensor<2x128x64xf32>,
         tensor<2xi32>) -> tensor<2x128x64xf32>
  return %0 : tensor<2x128x64xf32>
}

// -----

// Sizes that are not multiples of the tiles (77 queries, 130 keys): the
// last query tile is shifted back to rows [45, 77) and writes only the
// rows it owns; the last key tile is shifted back to keys [66, 130) and
// masks the keys the block before already counted. Tiles stay static.

// CHECK-LABEL: func.func @ragged
// CHECK: scf.forall (%{{.*}}, %[[QB:.*]]) in (2, 3)
// CHECK: %[[FIRST:.*]] = arith.muli %[[QB]], %c32
// CHECK: %[[START:.*]] = arith.minsi %[[FIRST]], %c45
// CHECK: tensor.extract_slice %{{.*}}[0, %[[START]], %{{.*}}] [1, 32, 8] [1, 1, 1] : tensor<1x77x16xf32> to tensor<32x8xf32>
// CHECK: scf.for %[[KB:.*]] = %c0 to %c3 step %c1
// CHECK: %[[KFIRST:.*]] = arith.muli %[[KB]], %c64
// CHECK: %[[KSTART:.*]] = arith.minsi %[[KFIRST]], %c66
// CHECK: tensor.extract_slice %{{.*}}[0, %[[KSTART]], %{{.*}}] [1, 64, 8] [1, 1, 1] : tensor<1x130x16xf32> to tensor<64x8xf32>
// CHECK: tensor.extract_slice %{{.*}}[0, %[[KSTART]], %{{.*}}] [1, 64, 4] [1, 1, 1] : tensor<1x130x8xf32> to tensor<64x4xf32>
// CHECK: %[[KEND:.*]] = arith.addi %[[KFIRST]], %c64
// CHECK: %[[TAIL:.*]] = arith.cmpi sgt, %[[KEND]], %c130
// CHECK: scf.if %[[TAIL]]
// CHECK: %[[J:.*]] = arith.addi %[[KSTART]], %{{.*}}
// CHECK: arith.cmpi slt, %[[J]], %[[KFIRST]]
// CHECK: %[[LEFT:.*]] = arith.subi %c77, %[[FIRST]]
// CHECK: %[[COUNT:.*]] = arith.minsi %[[LEFT]], %c32
// CHECK: %[[SKIP:.*]] = arith.subi %[[FIRST]], %[[START]]
// CHECK: tensor.extract_slice %{{.*}}[%[[SKIP]]] [%[[COUNT]]] [1] : tensor<32xf32> to tensor<?xf32>
// CHECK: tensor.extract_slice %{{.*}}[%[[SKIP]], 0] [%[[COUNT]], 4] [1, 1] : tensor<32x4xf32> to tensor<?x4xf32>
// CHECK: tensor.parallel_insert_slice %{{.*}} into %{{.*}}[0, %[[FIRST]], %{{.*}}] [1, %[[COUNT]], 4] [1, 1, 1] : tensor<?x4xf32> into tensor<1x77x8xf32>
func.func @ragged(%q: tensor<1x77x16xf32>, %k: tensor<1x130x16xf32>,
                  %v: tensor<1x130x8xf32>) -> tensor<1x77x8xf32> {
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.125 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 32 : i64, block_k = 64 : i64}}
      : (tensor<1x77x16xf32>, tensor<1x130x16xf32>, tensor<1x130x8xf32>)
      -> tensor<1x77x8xf32>
  return %0 : tensor<1x77x8xf32>
}

// -----

// Table-driven (driver = "table"): the causal map of 8 x 8 in 4 x 4 tiles
// as constant CSR tables, rows [0, 1, 3], columns [0, 0, 1], masks
// [1, 0, 1]; the loop runs over the row's entries and blocks past the key
// length are skipped.

// CHECK-LABEL: func.func @table
// CHECK-DAG: %[[ROWS:.*]] = arith.constant dense<[0, 1, 3]> : tensor<3xi32>
// CHECK-DAG: %[[COLS:.*]] = arith.constant dense<[0, 0, 1]> : tensor<3xi32>
// CHECK-DAG: %[[MASKS:.*]] = arith.constant dense<[1, 0, 1]> : tensor<3xi32>
// CHECK: scf.forall (%[[B:.*]], %[[QB:.*]]) in (2, 2)
// CHECK: %[[LEN:.*]] = arith.maxsi
// CHECK: %[[B0:.*]] = tensor.extract %[[ROWS]][%[[QB]]]
// CHECK: %[[BEGIN:.*]] = arith.index_cast %[[B0]]
// CHECK: %[[NEXT:.*]] = arith.addi %[[QB]], %c1
// CHECK: %[[E0:.*]] = tensor.extract %[[ROWS]][%[[NEXT]]]
// CHECK: %[[END:.*]] = arith.index_cast %[[E0]]
// CHECK: scf.for %[[E:.*]] = %[[BEGIN]] to %[[END]] step %c1
// CHECK: %[[KB0:.*]] = tensor.extract %[[COLS]][%[[E]]]
// CHECK: %[[KB:.*]] = arith.index_cast %[[KB0]]
// CHECK: %[[FLAG0:.*]] = tensor.extract %[[MASKS]][%[[E]]]
// CHECK: %[[KFIRST:.*]] = arith.muli %[[KB]], %c4
// CHECK: %[[VISIT:.*]] = arith.cmpi slt, %[[KFIRST]], %[[LEN]]
// CHECK: scf.if %[[VISIT]]
// CHECK: } else {
// CHECK: scf.yield
func.func @table(%q: tensor<2x8x8xf32>, %len: tensor<2xi32>)
    -> tensor<2x8x8xf32> {
  %0 = xf.attention %q, %q, %q key_lengths(%len)
      {num_heads = 1 : i64, scale = 0.125 : f64, causal,
       xf.attention_kernel = {kind = "flash", block_q = 4 : i64, block_k = 4 : i64, driver = "table"}}
      : (tensor<2x8x8xf32>, tensor<2x8x8xf32>, tensor<2x8x8xf32>,
         tensor<2xi32>) -> tensor<2x8x8xf32>
  return %0 : tensor<2x8x8xf32>
}

// -----

func.func @missing_block(%q: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  // expected-error @below {{xf.attention_kernel must be a dictionary with kind, block_q and block_k, found {block_q = 4 : i64, kind = "flash"}}}
  %0 = xf.attention %q, %q, %q {num_heads = 1 : i64, scale = 1.0 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 4 : i64}}
      : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>)
      -> tensor<1x8x8xf32>
  return %0 : tensor<1x8x8xf32>
}

// -----

func.func @unknown_kind(%q: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  // expected-error @below {{xf.attention_kernel: unknown kernel kind "paged" (expected "flash")}}
  %0 = xf.attention %q, %q, %q {num_heads = 1 : i64, scale = 1.0 : f64,
      xf.attention_kernel = {kind = "paged", block_q = 4 : i64, block_k = 4 : i64}}
      : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>)
      -> tensor<1x8x8xf32>
  return %0 : tensor<1x8x8xf32>
}

// -----

func.func @unknown_driver(%q: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  // expected-error @below {{xf.attention_kernel: unknown driver "csc" (expected "table" or none)}}
  %0 = xf.attention %q, %q, %q {num_heads = 1 : i64, scale = 1.0 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 4 : i64, block_k = 4 : i64, driver = "csc"}}
      : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>)
      -> tensor<1x8x8xf32>
  return %0 : tensor<1x8x8xf32>
}

// -----

func.func @block_too_large(%q: tensor<1x8x8xf32>) -> tensor<1x8x8xf32> {
  // expected-error @below {{xf.attention_kernel: expected 1 <= block_q <= 8 and 1 <= block_k <= 8, found block_q 16 and block_k 4}}
  %0 = xf.attention %q, %q, %q {num_heads = 1 : i64, scale = 1.0 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 16 : i64, block_k = 4 : i64}}
      : (tensor<1x8x8xf32>, tensor<1x8x8xf32>, tensor<1x8x8xf32>)
      -> tensor<1x8x8xf32>
  return %0 : tensor<1x8x8xf32>
}

// -----

// A pattern with two head groups: one kernel (scf.forall) per group, each
// writing its head's columns of the same output. Head 0's sliding window
// (w = 2) visits the CSR table's blocks (rows [0, 2, 4], columns
// [0, 1, 0, 1]: every block partial, so the mask is applied without a
// condition) and masks |i - j| > 1 element by element; head 1's block layout matches the 4 x 4 tiles, so its blocks
// are full and it has no in-block mask at all.

// CHECK-LABEL: func.func @pattern_groups
// CHECK-DAG: %[[COLS0:.*]] = arith.constant dense<[0, 1, 0, 1]> : tensor<4xi32>
// CHECK-DAG: %[[ROWS0:.*]] = arith.constant dense<[0, 2, 4]> : tensor<3xi32>
// CHECK-DAG: %[[ROWS1:.*]] = arith.constant dense<[0, 1, 3]> : tensor<3xi32>
// CHECK: %[[G0:.*]] = scf.forall (%[[QB:.*]]) in (2) shared_outs(%[[OUT0:.*]] = %{{.*}})
// CHECK: tensor.extract %[[ROWS0]][%[[QB]]]
// CHECK: scf.for
// CHECK: tensor.extract %[[COLS0]]
// CHECK: linalg.generic
// CHECK: %[[D:.*]] = arith.subi
// CHECK: arith.cmpi sge, %[[D]], %c-1
// CHECK: arith.cmpi sle, %[[D]], %c1
// CHECK: arith.select
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT0]][0, %{{.*}}, 0] [1, 4, 8]
// CHECK: scf.forall (%[[QB1:.*]]) in (2) shared_outs(%[[OUT1:.*]] = %[[G0]])
// CHECK: tensor.extract %[[ROWS1]][%[[QB1]]]
// CHECK-NOT: scf.if
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT1]][0, %{{.*}}, 8] [1, 4, 8]
func.func @pattern_groups(%q: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %0 = xf.attention %q, %q, %q
      {num_heads = 2 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"sliding_window(w = 2) | block_sparse(b = 4, layout = [[1, 0], [1, 1]])">,
       xf.attention_kernel = {kind = "flash", block_q = 4 : i64, block_k = 4 : i64}}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

// A gathered union (AttentionGather.h): strided A2 with l = 4 over 16
// tokens runs per residue class, a forall over (class, query block) with
// rows 4 apart (class r, compressed row x: position r + 4 x), its 2 x 2
// tiles masked by causality in compressed indices and by A1's pairs (which
// the direct phase counts). It writes the online-softmax state (o, m, l)
// at the same strided rows; the direct forall then computes A1 over the
// original positions starting from that state and writes the output.

// CHECK-LABEL: func.func @gathered_union
// CHECK: %[[STATE:.*]]:3 = scf.forall (%[[R:.*]], %[[QB:.*]]) in (4, 2) shared_outs(%[[O:.*]] = %{{.*}}, %[[M:.*]] = %{{.*}}, %[[L:.*]] = %{{.*}}) -> (tensor<1x16x8xf32>, tensor<1x1x16xf32>, tensor<1x1x16xf32>)
// CHECK: %[[X:.*]] = arith.muli %[[QB]], %c8
// CHECK: %[[ROW:.*]] = arith.addi %[[R]], %[[X]]
// CHECK: tensor.extract_slice %{{.*}}[0, %[[ROW]], 0] [1, 2, 8] [1, 4, 1] : tensor<1x16x8xf32> to tensor<2x8xf32>
// CHECK: scf.for
// CHECK: tensor.extract_slice %{{.*}} [1, 2, 8] [1, 4, 1] : tensor<1x16x8xf32> to tensor<2x8xf32>
// CHECK: scf.forall.in_parallel
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[O]][0, %[[ROW]], 0] [1, 2, 8] [1, 4, 1]
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[M]][0, 0, %[[ROW]]] [1, 1, 2] [1, 1, 4]
// CHECK-NEXT: tensor.parallel_insert_slice %{{.*}} into %[[L]][0, 0, %[[ROW]]] [1, 1, 2] [1, 1, 4]
// CHECK: scf.forall (%[[QB2:.*]]) in (8) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<1x16x8xf32>)
// CHECK: tensor.extract_slice %[[STATE]]#1[0, 0, %{{.*}}] [1, 1, 2] [1, 1, 1]
// CHECK: tensor.extract_slice %[[STATE]]#2[0, 0, %{{.*}}] [1, 1, 2] [1, 1, 1]
// CHECK: tensor.extract_slice %[[STATE]]#0[0, %{{.*}}, 0] [1, 2, 8] [1, 1, 1]
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][0, %{{.*}}, 0] [1, 2, 8] [1, 1, 1]
func.func @gathered_union(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"strided_local(l = 4) + strided_summary(l = 4)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["residue(classes = 4)"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// -----

// A gathered part with nothing else in its union writes the output itself,
// at its strided rows: a dilated window (d = 2) over 7 tokens has a class
// of 4 positions and one of 3, each its own forall.

// CHECK-LABEL: func.func @gathered_alone
// CHECK: %[[A:.*]] = scf.forall (%{{.*}}) in (2) shared_outs(%[[OUT:.*]] = %{{.*}}) -> (tensor<1x7x8xf32>)
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT]][0, %{{.*}}, 0] [1, 2, 8] [1, 2, 1]
// CHECK: scf.forall (%{{.*}}) in (2) shared_outs(%[[OUT2:.*]] = %[[A]]) -> (tensor<1x7x8xf32>)
// CHECK: tensor.parallel_insert_slice %{{.*}} into %[[OUT2]][0, %{{.*}}, 0] [1, %{{.*}}, 8] [1, 2, 1]
// CHECK-NOT: scf.forall
func.func @gathered_alone(%q: tensor<1x7x8xf32>) -> tensor<1x7x8xf32> {
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"dilated_sliding_window(w = 2, d = 2)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["residue(classes = 2)"]}}
      : (tensor<1x7x8xf32>, tensor<1x7x8xf32>, tensor<1x7x8xf32>)
      -> tensor<1x7x8xf32>
  return %0 : tensor<1x7x8xf32>
}

// -----

// The fixed A2 gathered by key (AttentionGather.h): l = 4, c = 2 over 16
// tokens has 8 summary keys (positions 2, 3, 6, 7, ...). K and V are
// copied together first, key class t (positions 2 + t + 4 m) to compact
// rows t + 2 m; a forall over (b, h, query block) with contiguous rows
// then reads its key tiles from the copies, the original position of
// compact key y being (y / 2) 4 + 2 + y mod 2, and writes the state that
// A1's direct forall continues from. (K and V are the same tensor here, so
// CSE keeps one copy.)

// CHECK-LABEL: func.func @gathered_summary_keys
// CHECK: %[[K0:.*]] = tensor.extract_slice %[[Q:.*]][0, 2, 0] [1, 4, 8] [1, 4, 1] : tensor<1x16x8xf32> to tensor<1x4x8xf32>
// CHECK: %[[K1:.*]] = tensor.insert_slice %[[K0]] into %{{.*}}[0, 0, 0] [1, 4, 8] [1, 2, 1] : tensor<1x4x8xf32> into tensor<1x8x8xf32>
// CHECK: %[[K2:.*]] = tensor.extract_slice %[[Q]][0, 3, 0] [1, 4, 8] [1, 4, 1]
// CHECK: %[[KC:.*]] = tensor.insert_slice %[[K2]] into %[[K1]][0, 1, 0] [1, 4, 8] [1, 2, 1]
// CHECK: %[[STATE:.*]]:3 = scf.forall (%{{.*}}) in (8) shared_outs
// CHECK: scf.for
// CHECK: tensor.extract_slice %[[KC]][{{.*}}] [1, 2, 8] [1, 1, 1] : tensor<1x8x8xf32> to tensor<2x8xf32>
// CHECK: arith.divui %{{.*}}, %c2
// CHECK: arith.remui %{{.*}}, %c2
// CHECK: scf.forall (%{{.*}}) in (8) shared_outs(%{{.*}} = %{{.*}}) -> (tensor<1x16x8xf32>)
// CHECK: tensor.extract_slice %[[STATE]]#1
func.func @gathered_summary_keys(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"fixed_local(l = 4) + fixed_summary(l = 4, c = 2)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["summary_keys(l = 4, c = 2)"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// -----

func.func @gather_wrong_classes(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @below {{xf.attention_kernel: head group 0 cannot be gathered as "residue(classes = 3)" (expected "none" or "residue(classes = 4)")}}
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"strided_summary(l = 4)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["residue(classes = 3)"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// -----

func.func @gather_wrong_summary(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @below {{xf.attention_kernel: head group 0 cannot be gathered as "residue(classes = 4)" (expected "none" or "summary_keys(l = 4, c = 2)")}}
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"fixed_summary(l = 4, c = 2)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["residue(classes = 4)"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// -----

func.func @gather_not_gatherable(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @below {{xf.attention_kernel: head group 0 cannot be gathered as "residue(classes = 4)" (expected "none")}}
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       pattern = #xf.pattern<"strided_local(l = 4)">,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["residue(classes = 4)"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}

// -----

func.func @gather_per_group(%q: tensor<1x16x8xf32>) -> tensor<1x16x8xf32> {
  // expected-error @below {{xf.attention_kernel: gather must be an array of one strategy per head group of the pattern (0), found ["none"]}}
  %0 = xf.attention %q, %q, %q
      {num_heads = 1 : i64, scale = 0.25 : f64,
       xf.attention_kernel = {kind = "flash", block_q = 2 : i64, block_k = 2 : i64,
                              gather = ["none"]}}
      : (tensor<1x16x8xf32>, tensor<1x16x8xf32>, tensor<1x16x8xf32>)
      -> tensor<1x16x8xf32>
  return %0 : tensor<1x16x8xf32>
}
