// RUN: xfc-opt %s -split-input-file -convert-xf-to-linalg | FileCheck %s
// RUN: xfc-opt %s -split-input-file -convert-xf-to-linalg | FileCheck %s --check-prefix=NOXF
// RUN: xfc-opt %s -split-input-file -convert-xf-to-linalg='test-fault=drop-mask' | FileCheck %s --check-prefix=DROP
// RUN: xfc-opt %s -split-input-file -convert-xf-to-linalg='test-fault=causal-off-by-one' | FileCheck %s --check-prefix=OFF1
// RUN: xfc-opt %s -split-input-file -convert-xf-to-linalg='test-fault=permute-heads' | FileCheck %s --check-prefix=PERM
// RUN: not xfc-opt %s -convert-xf-to-linalg='test-fault=bogus' 2>&1 | FileCheck %s --check-prefix=FAULT

// FAULT: error: convert-xf-to-linalg: unknown test-fault 'bogus' (expected drop-mask, causal-off-by-one or permute-heads)

// NOXF-NOT: xf.

// CHECK-DAG: #[[MK:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-DAG: #[[NK:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[MN:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-LABEL: func.func @linear
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W:[^:]*]]: tensor<32x16xf32>, %[[B:[^:]*]]: tensor<32xf32>)
// CHECK: %[[M:.*]] = tensor.collapse_shape %[[X]] {{\[}}[0, 1], [2]] : tensor<2x7x16xf32> into tensor<14x16xf32>
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<14x32xf32>
// CHECK: %[[ACC:.*]] = linalg.broadcast ins(%[[B]] : tensor<32xf32>) outs(%[[INIT]] : tensor<14x32xf32>) dimensions = [0]
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[MK]], #[[NK]], #[[MN]]], iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK-SAME: ins(%[[M]], %[[W]] : tensor<14x16xf32>, tensor<32x16xf32>) outs(%[[ACC]] : tensor<14x32xf32>)
// CHECK: arith.mulf
// CHECK: arith.addf
// CHECK: %[[R:.*]] = tensor.expand_shape %[[P]] {{\[}}[0, 1], [2]] output_shape [2, 7, 32] : tensor<14x32xf32> into tensor<2x7x32xf32>
// CHECK: return %[[R]]
func.func @linear(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>,
                  %b: tensor<32xf32>) -> tensor<2x7x32xf32> {
  %0 = xf.linear %x, %w, %b
      : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<32xf32>)
      -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

// [in, out] weight, no bias, rank-2 input: a zero-filled accumulator, no
// reshapes, loop order (m, k, n).

// CHECK-DAG: #[[MK:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[KN:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-DAG: #[[MN:.*]] = affine_map<(d0, d1, d2) -> (d0, d2)>
// CHECK-LABEL: func.func @linear_transposed
// CHECK-SAME: (%[[X:[^:]*]]: tensor<7x16xf32>, %[[W:[^:]*]]: tensor<16x32xf32>)
// CHECK-NOT: tensor.collapse_shape
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[ACC:.*]] = linalg.fill ins(%[[ZERO]] : f32) outs(%{{.*}} : tensor<7x32xf32>)
// CHECK: %[[P:.*]] = linalg.generic {indexing_maps = [#[[MK]], #[[KN]], #[[MN]]], iterator_types = ["parallel", "reduction", "parallel"]}
// CHECK-SAME: ins(%[[X]], %[[W]] : tensor<7x16xf32>, tensor<16x32xf32>) outs(%[[ACC]] : tensor<7x32xf32>)
// CHECK-NOT: tensor.expand_shape
// CHECK: return %[[P]]
func.func @linear_transposed(%x: tensor<7x16xf32>, %w: tensor<16x32xf32>)
    -> tensor<7x32xf32> {
  %0 = xf.linear %x, %w {transpose_weight}
      : (tensor<7x16xf32>, tensor<16x32xf32>) -> tensor<7x32xf32>
  return %0 : tensor<7x32xf32>
}

// -----

// The epilogue: the contraction accumulates into the broadcast bias, then
// ONE element-wise generic applies the activation and adds the residual
// (collapsed like the input) in place: the contraction's result is its init.

// CHECK-DAG: #[[ID:.*]] = affine_map<(d0, d1) -> (d0, d1)>
// CHECK-LABEL: func.func @linear_epilogue
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[W:[^:]*]]: tensor<16x32xf32>, %[[B:[^:]*]]: tensor<32xf32>, %[[R:[^:]*]]: tensor<2x7x32xf32>)
// CHECK: %[[ACC:.*]] = linalg.broadcast ins(%[[B]] : tensor<32xf32>)
// CHECK: %[[P:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "reduction", "parallel"]} ins(%{{.*}}, %[[W]] : tensor<14x16xf32>, tensor<16x32xf32>) outs(%[[ACC]] : tensor<14x32xf32>)
// CHECK: %[[RM:.*]] = tensor.collapse_shape %[[R]] {{\[}}[0, 1], [2]] : tensor<2x7x32xf32> into tensor<14x32xf32>
// CHECK: %[[E:.*]] = linalg.generic {indexing_maps = [#[[ID]], #[[ID]]], iterator_types = ["parallel", "parallel"]} ins(%[[RM]] : tensor<14x32xf32>) outs(%[[P]] : tensor<14x32xf32>)
// CHECK-NEXT: ^bb0(%[[RV:.*]]: f32, %[[V:.*]]: f32):
// CHECK: math.erf
// CHECK: %[[S:.*]] = arith.addf %{{.*}}, %[[RV]] : f32
// CHECK-NEXT: linalg.yield %[[S]]
// CHECK-NOT: linalg.generic
// CHECK: %[[OUT:.*]] = tensor.expand_shape %[[E]]
// CHECK: return %[[OUT]]
func.func @linear_epilogue(%x: tensor<2x7x16xf32>, %w: tensor<16x32xf32>,
    %b: tensor<32xf32>, %r: tensor<2x7x32xf32>) -> tensor<2x7x32xf32> {
  %0 = xf.linear %x, %w, %b residual(%r)
      {transpose_weight, activation = #xf<activation gelu>}
      : (tensor<2x7x16xf32>, tensor<16x32xf32>, tensor<32xf32>, tensor<2x7x32xf32>)
      -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

// Activation only, [out, in] weight: the contraction keeps its (m, n, k)
// form with reassociation, and the epilogue has one input.

// CHECK-LABEL: func.func @linear_activation
// CHECK: %[[P:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]}
// CHECK: arith.mulf %{{.*}}, %{{.*}} fastmath<reassoc,contract>
// CHECK: linalg.generic {{.*}} outs(%[[P]] : tensor<7x32xf32>)
// CHECK: arith.maximumf
func.func @linear_activation(%x: tensor<7x16xf32>, %w: tensor<32x16xf32>)
    -> tensor<7x32xf32> {
  %0 = xf.linear %x, %w {activation = #xf<activation relu>}
      : (tensor<7x16xf32>, tensor<32x16xf32>) -> tensor<7x32xf32>
  return %0 : tensor<7x32xf32>
}

// -----

// Pieces of the last dimension as slices (views after bufferization); a
// returned piece is copied into a contiguous tensor.

// CHECK-LABEL: func.func @split
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x48xf32>)
// CHECK: %[[A:.*]] = tensor.extract_slice %[[X]][0, 0, 0] [2, 7, 16] [1, 1, 1]
// CHECK-NOT: linalg.copy
// CHECK: %[[B:.*]] = tensor.extract_slice %[[X]][0, 0, 16] [2, 7, 8] [1, 1, 1]
// CHECK: %[[BC:.*]] = linalg.copy ins(%[[B]] : tensor<2x7x8xf32>)
// CHECK: %[[C:.*]] = tensor.extract_slice %[[X]][0, 0, 24] [2, 7, 24] [1, 1, 1]
// CHECK: %[[CC:.*]] = linalg.copy ins(%[[C]] : tensor<2x7x24xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[A]] : tensor<2x7x16xf32>)
// CHECK: return %{{.*}}, %[[BC]], %[[CC]]
func.func @split(%x: tensor<2x7x48xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>) {
  %0:3 = xf.split %x
      : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>
  %1 = xf.softmax %0#0 : tensor<2x7x16xf32>
  return %1, %0#1, %0#2 : tensor<2x7x16xf32>, tensor<2x7x8xf32>, tensor<2x7x24xf32>
}

// -----

// CHECK-LABEL: func.func @add
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[Y:[^:]*]]: tensor<2x7x16xf32>)
// CHECK: linalg.generic
// CHECK-SAME: iterator_types = ["parallel", "parallel", "parallel"]
// CHECK-SAME: ins(%[[X]], %[[Y]] : tensor<2x7x16xf32>, tensor<2x7x16xf32>)
// CHECK: ^bb0(%[[A:[^:]*]]: f32, %[[B:[^:]*]]: f32, %{{[^:]*}}: f32):
// CHECK: %[[S:.*]] = arith.addf %[[A]], %[[B]] : f32
// CHECK: linalg.yield %[[S]]
func.func @add(%x: tensor<2x7x16xf32>, %y: tensor<2x7x16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.add %x, %y : tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @relu
// CHECK: linalg.generic
// CHECK: ^bb0(%[[IN:[^:]*]]: f32, %{{[^:]*}}: f32):
// CHECK: %[[ZERO:.*]] = arith.constant 0.000000e+00 : f32
// CHECK: %[[R:.*]] = arith.maximumf %[[IN]], %[[ZERO]] : f32
// CHECK: linalg.yield %[[R]]
func.func @relu(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.activation relu %x : tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Exact gelu: 0.5 x (1 + erf(x / sqrt 2)).

// CHECK-LABEL: func.func @gelu
// CHECK: linalg.generic
// CHECK: ^bb0(%[[IN:[^:]*]]: f32, %{{[^:]*}}: f32):
// CHECK: %[[C:.*]] = arith.constant 0.707106769 : f32
// CHECK: %[[S:.*]] = arith.mulf %[[IN]], %[[C]] : f32
// CHECK: %[[E:.*]] = math.erf %[[S]] : f32
// CHECK-NOT: math.tanh
// CHECK: linalg.yield
func.func @gelu(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.activation gelu %x : tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// CHECK-LABEL: func.func @gelu_tanh
// CHECK: linalg.generic
// CHECK-NOT: math.erf
// CHECK: arith.constant 4.471500e-02 : f32
// CHECK: arith.constant 0.797884583 : f32
// CHECK: math.tanh %{{.*}} : f32
// CHECK: linalg.yield
func.func @gelu_tanh(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.activation gelu_tanh %x : tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Softmax: row max (from -inf), sum of exp(x - max), then the division,
// with 0 for a row whose sum is 0 (all -inf).

// CHECK-LABEL: func.func @softmax
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>)
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[MAXINIT:.*]] = linalg.fill ins(%[[NEGINF]] : f32) outs(%{{.*}} : tensor<2x7xf32>)
// CHECK: %[[MAX:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<2x7x16xf32>) outs(%[[MAXINIT]] : tensor<2x7xf32>)
// CHECK: arith.maximumf
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[MAX]] : tensor<2x7x16xf32>, tensor<2x7xf32>)
// CHECK: math.exp
// CHECK: linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[MAX]], %[[SUM]] :
// CHECK: ^bb0(%{{[^:]*}}: f32, %{{[^:]*}}: f32, %[[S:[^:]*]]: f32, %{{[^:]*}}: f32):
// CHECK: %[[P:.*]] = arith.divf %{{.*}}, %[[S]] : f32
// CHECK: %[[POS:.*]] = arith.cmpf ogt, %[[S]], %{{.*}} : f32
// CHECK: %[[R:.*]] = arith.select %[[POS]], %[[P]], %{{.*}} : f32
// CHECK: linalg.yield %[[R]]
func.func @softmax(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.softmax %x : tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Two reductions (sum, then sum of squares about the mean), then the
// element-wise normalization with epsilon inside the square root.

// CHECK-DAG: #[[ROW:.*]] = affine_map<(d0, d1, d2) -> (d0, d1)>
// CHECK-DAG: #[[FEAT:.*]] = affine_map<(d0, d1, d2) -> (d2)>
// CHECK-LABEL: func.func @layer_norm
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[B:[^:]*]]: tensor<16xf32>)
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]] : tensor<2x7x16xf32>)
// CHECK: %[[SQ:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "reduction"]} ins(%[[X]], %[[SUM]] : tensor<2x7x16xf32>, tensor<2x7xf32>)
// CHECK: arith.mulf
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[ROW]], #[[ROW]], #[[FEAT]], #[[FEAT]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel"]} ins(%[[X]], %[[SUM]], %[[SQ]], %[[G]], %[[B]] :
// CHECK: %[[EPS:.*]] = arith.constant 9.99999974E-6 : f32
// CHECK: %[[VE:.*]] = arith.addf %{{.*}}, %[[EPS]] : f32
// CHECK: math.sqrt %[[VE]] : f32
func.func @layer_norm(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>,
                      %b: tensor<16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>)
      -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Residual + LayerNorm, one row at a time: an scf.forall over the 14 rows;
// per row the sum, two scalar reductions (sum, then squares about the
// mean), 1/sqrt(var + eps) once, and the normalization written in place
// over the sum in the output row.

// CHECK-LABEL: func.func @layer_norm_residual
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[G:[^:]*]]: tensor<16xf32>, %[[B:[^:]*]]: tensor<16xf32>, %[[R:[^:]*]]: tensor<2x7x16xf32>)
// CHECK: %[[XM:.*]] = tensor.collapse_shape %[[X]]
// CHECK: %[[RM:.*]] = tensor.collapse_shape %[[R]]
// CHECK: %[[INIT:.*]] = tensor.empty() : tensor<14x16xf32>
// CHECK: %[[F:.*]] = scf.forall (%[[I:.*]]) in (14) shared_outs(%[[OUT:.*]] = %[[INIT]]) -> (tensor<14x16xf32>) {
// CHECK: %[[OROW:.*]] = tensor.extract_slice %[[OUT]][%[[I]], 0] [1, 16] [1, 1]
// CHECK: %[[XROW:.*]] = tensor.extract_slice %[[XM]][%[[I]], 0] [1, 16] [1, 1]
// CHECK: %[[RROW:.*]] = tensor.extract_slice %[[RM]][%[[I]], 0] [1, 16] [1, 1]
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}} ins(%[[XROW]], %[[RROW]] : tensor<1x16xf32>, tensor<1x16xf32>) outs(%[[OROW]] : tensor<1x16xf32>)
// CHECK: %[[TOTAL:.*]] = scf.for
// CHECK: tensor.extract %[[SUM]]
// CHECK: %[[MEAN:.*]] = arith.divf %[[TOTAL]]
// CHECK: %[[SQ:.*]] = scf.for
// CHECK: arith.subf %{{.*}}, %[[MEAN]]
// CHECK: %[[VAR:.*]] = arith.divf %[[SQ]]
// CHECK: %[[VE:.*]] = arith.addf %[[VAR]]
// CHECK: math.sqrt %[[VE]]
// CHECK: %[[N:.*]] = linalg.generic {{.*}} ins(%[[G]], %[[B]] : tensor<16xf32>, tensor<16xf32>) outs(%[[SUM]] : tensor<1x16xf32>)
// CHECK-NOT: math.sqrt
// CHECK: scf.forall.in_parallel {
// CHECK-NEXT: tensor.parallel_insert_slice %[[N]] into %[[OUT]][%[[I]], 0] [1, 16] [1, 1]
// CHECK-NEXT: }
// CHECK: tensor.expand_shape %[[F]]

// With the sum as a second result, the sum row goes to its own output and
// the normalization to the result's row.
// CHECK: scf.forall (%[[J:.*]]) in (14) shared_outs(%[[OUT2:.*]] = %{{.*}}, %[[SUMOUT:.*]] = %{{.*}}) -> (tensor<14x16xf32>, tensor<14x16xf32>)
// CHECK: %[[S2:.*]] = linalg.generic
// CHECK: %[[N2:.*]] = linalg.generic {{.*}} ins(%[[S2]], %[[G]], %[[B]] :
// CHECK: tensor.parallel_insert_slice %[[N2]] into %[[OUT2]]
// CHECK-NEXT: tensor.parallel_insert_slice %[[S2]] into %[[SUMOUT]]
func.func @layer_norm_residual(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>,
    %b: tensor<16xf32>, %r: tensor<2x7x16xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  %0 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>)
      -> tensor<2x7x16xf32>
  %1, %2 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64}
      : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>)
      -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>)
  return %0, %1, %2 : tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// Ids are clamped to [0, rows - 1] before the lookup; the scale multiplies.

// CHECK-LABEL: func.func @embedding
// CHECK-SAME: (%[[IDS:[^:]*]]: tensor<2x7xi32>, %[[T:[^:]*]]: tensor<64x16xf32>)
// CHECK: linalg.generic {{.*}} ins(%[[IDS]] : tensor<2x7xi32>) outs(%{{.*}} : tensor<2x7x16xf32>)
// CHECK: ^bb0(%[[ID:[^:]*]]: i32, %{{[^:]*}}: f32):
// CHECK: %[[I:.*]] = arith.index_cast %[[ID]] : i32 to index
// CHECK-DAG: %[[C0:.*]] = arith.constant 0 : index
// CHECK-DAG: %[[C63:.*]] = arith.constant 63 : index
// CHECK: %[[LO:.*]] = arith.maxsi %[[I]], %[[C0]] : index
// CHECK: %[[ROW:.*]] = arith.minsi %[[LO]], %[[C63]] : index
// CHECK: %[[COL:.*]] = linalg.index 2 : index
// CHECK: %[[E:.*]] = tensor.extract %[[T]][%[[ROW]], %[[COL]]] : tensor<64x16xf32>
// CHECK: %[[SC:.*]] = arith.constant 4.000000e+00 : f32
// CHECK: %[[R:.*]] = arith.mulf %[[E]], %[[SC]] : f32
// CHECK: linalg.yield %[[R]]
func.func @embedding(%ids: tensor<2x7xi32>, %t: tensor<64x16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.embedding %ids, %t {scale = 4.0 : f64}
      : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// The default scale 1.0 multiplies nothing.

// CHECK-LABEL: func.func @embedding_unscaled
// CHECK: %[[E:.*]] = tensor.extract
// CHECK-NEXT: linalg.yield %[[E]]
func.func @embedding_unscaled(%ids: tensor<2x7xi32>, %t: tensor<64x16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.embedding %ids, %t
      : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Learned: rows [0, seq) of the table, broadcast over the batch.

// CHECK-DAG: #[[SD:.*]] = affine_map<(d0, d1, d2) -> (d1, d2)>
// CHECK-LABEL: func.func @positional_learned
// CHECK-SAME: (%[[X:[^:]*]]: tensor<2x7x16xf32>, %[[T:[^:]*]]: tensor<32x16xf32>)
// CHECK: %[[ROWS:.*]] = tensor.extract_slice %[[T]][0, 0] [7, 16] [1, 1] : tensor<32x16xf32> to tensor<7x16xf32>
// CHECK: linalg.generic {indexing_maps = [#{{.*}}, #[[SD]], #{{.*}}], {{.*}} ins(%[[X]], %[[ROWS]] : tensor<2x7x16xf32>, tensor<7x16xf32>)
// CHECK: arith.addf
func.func @positional_learned(%x: tensor<2x7x16xf32>, %t: tensor<32x16xf32>)
    -> tensor<2x7x16xf32> {
  %0 = xf.positional_encoding learned %x, %t
      : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Sinusoidal, computed in f64: sin on even features, cos on odd ones.

// CHECK-LABEL: func.func @positional_sinusoidal
// CHECK: linalg.generic
// CHECK-DAG: %[[POS:.*]] = linalg.index 1 : index
// CHECK-DAG: %[[DIM:.*]] = linalg.index 2 : index
// CHECK: %[[ODD:.*]] = arith.cmpi ne
// CHECK: %[[WIDTH:.*]] = arith.constant 1.600000e+01 : f64
// CHECK: %[[BASE:.*]] = arith.constant 1.000000e+04 : f64
// CHECK: math.powf %[[BASE]], %{{.*}} : f64
// CHECK-DAG: %[[SIN:.*]] = math.sin %{{.*}} : f64
// CHECK-DAG: %[[COS:.*]] = math.cos %{{.*}} : f64
// CHECK: %[[PE:.*]] = arith.select %[[ODD]], %[[COS]], %[[SIN]] : f64
// CHECK: %[[PE32:.*]] = arith.truncf %[[PE]] : f64 to f32
// CHECK: arith.addf %{{.*}}, %[[PE32]] : f32
func.func @positional_sinusoidal(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  %0 = xf.positional_encoding sinusoidal %x
      : (tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// With positions (a decode step's tokens): the angle's position is the
// element of `positions` for the row, not the sequence index.

// CHECK-LABEL: func.func @positional_sinusoidal_positions
// CHECK-SAME: (%[[X:.*]]: tensor<2x1x16xf32>, %[[P:.*]]: tensor<2x1xi32>)
// CHECK: linalg.generic
// CHECK-SAME: ins(%[[X]], %[[P]] : tensor<2x1x16xf32>, tensor<2x1xi32>)
// CHECK: ^bb0(%{{.*}}: f32, %[[POS:.*]]: i32, %{{.*}}: f32):
// CHECK: arith.extsi %[[POS]] : i32 to i64
// CHECK-NOT: linalg.index 1
// CHECK: math.sin
func.func @positional_sinusoidal_positions(%x: tensor<2x1x16xf32>,
                                           %p: tensor<2x1xi32>)
    -> tensor<2x1x16xf32> {
  %0 = xf.positional_encoding sinusoidal %x positions %p
      : (tensor<2x1x16xf32>, tensor<2x1xi32>) -> tensor<2x1x16xf32>
  return %0 : tensor<2x1x16xf32>
}

// -----

// Attention with both masks: heads split by expand_shape, scores
// [B, H, Sq, Sk], scale, -inf where j > i (causal) or j >= key_lengths[b],
// masked softmax, weighted sum of values, heads merged by collapse_shape.

// CHECK-DAG: #[[Q5:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d2, d1, d4)>
// CHECK-DAG: #[[K5:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d3, d1, d4)>
// CHECK-DAG: #[[BATCH:.*]] = affine_map<(d0, d1, d2, d3) -> (d0)>
// CHECK-LABEL: func.func @attention_masks
// CHECK-SAME: (%[[Q:[^:]*]]: tensor<2x7x16xf32>, %[[K:[^:]*]]: tensor<2x5x16xf32>, %[[V:[^:]*]]: tensor<2x5x8xf32>, %[[LEN:[^:]*]]: tensor<2xi32>)
// CHECK-DAG: %[[QH:.*]] = tensor.expand_shape %[[Q]] {{\[}}[0], [1], [2, 3]] output_shape [2, 7, 2, 8] : tensor<2x7x16xf32> into tensor<2x7x2x8xf32>
// CHECK-DAG: %[[KH:.*]] = tensor.expand_shape %[[K]] {{\[}}[0], [1], [2, 3]] output_shape [2, 5, 2, 8]
// CHECK-DAG: %[[VH:.*]] = tensor.expand_shape %[[V]] {{\[}}[0], [1], [2, 3]] output_shape [2, 5, 2, 4]
// CHECK: %[[SCORES:.*]] = linalg.generic {indexing_maps = [#[[Q5]], #[[K5]], #{{.*}}], iterator_types = ["parallel", "parallel", "parallel", "parallel", "reduction"]} ins(%[[QH]], %[[KH]] : {{.*}}) outs(%{{.*}} : tensor<2x2x7x5xf32>)
// CHECK: %[[LOGITS:.*]] = linalg.generic {indexing_maps = [#{{.*}}, #[[BATCH]], #{{.*}}], {{.*}} ins(%[[SCORES]], %[[LEN]] : tensor<2x2x7x5xf32>, tensor<2xi32>)
// CHECK: ^bb0(%[[S:[^:]*]]: f32, %[[L:[^:]*]]: i32, %{{[^:]*}}: f32):
// CHECK: %[[SCALE:.*]] = arith.constant 5.000000e-01 : f32
// CHECK: %[[X:.*]] = arith.mulf %[[S]], %[[SCALE]] : f32
// CHECK: %[[J:.*]] = linalg.index 3 : index
// CHECK: %[[I:.*]] = linalg.index 2 : index
// CHECK: %[[CAUSAL:.*]] = arith.cmpi sgt, %[[J]], %[[I]] : index
// CHECK: %[[LENIDX:.*]] = arith.index_cast %[[L]] : i32 to index
// CHECK: %[[PAD:.*]] = arith.cmpi sge, %[[J]], %[[LENIDX]] : index
// CHECK: %[[MASKED:.*]] = arith.ori %[[CAUSAL]], %[[PAD]] : i1
// CHECK: %[[NEGINF:.*]] = arith.constant 0xFF800000 : f32
// CHECK: %[[SEL:.*]] = arith.select %[[MASKED]], %[[NEGINF]], %[[X]] : f32
// CHECK: linalg.yield %[[SEL]]
// CHECK: arith.maximumf
// CHECK: math.exp
// CHECK: %[[PROBS:.*]] = linalg.generic {{.*}} ins(%[[LOGITS]], %{{.*}}, %{{.*}} : tensor<2x2x7x5xf32>, tensor<2x2x7xf32>, tensor<2x2x7xf32>)
// CHECK: arith.cmpf ogt
// CHECK: arith.select
// CHECK: %[[OUT:.*]] = linalg.generic {{.*}} iterator_types = ["parallel", "parallel", "parallel", "reduction", "parallel"]} ins(%[[PROBS]], %[[VH]] : tensor<2x2x7x5xf32>, tensor<2x5x2x4xf32>) outs(%{{.*}} : tensor<2x7x2x4xf32>)
// CHECK: %[[R:.*]] = tensor.collapse_shape %[[OUT]] {{\[}}[0], [1], [2, 3]] : tensor<2x7x2x4xf32> into tensor<2x7x8xf32>
// CHECK: return %[[R]]

// DROP-LABEL: func.func @attention_masks
// DROP-NOT: arith.cmpi
// DROP-NOT: arith.ori
// DROP: return

// OFF1-LABEL: func.func @attention_masks
// OFF1: %[[J:.*]] = linalg.index 3 : index
// OFF1: %[[I:.*]] = linalg.index 2 : index
// OFF1: %[[ONE:.*]] = arith.constant 1 : index
// OFF1: %[[I1:.*]] = arith.addi %[[I]], %[[ONE]] : index
// OFF1: arith.cmpi sgt, %[[J]], %[[I1]] : index

// PERM-DAG: #[[PERMMAP:.*]] = affine_map<(d0, d1, d2, d3, d4) -> (d0, d1, -d2 + 1, d4)>
// PERM-LABEL: func.func @attention_masks
// PERM: linalg.generic {indexing_maps = [#{{.*}}, #{{.*}}, #[[PERMMAP]]]
func.func @attention_masks(%q: tensor<2x7x16xf32>, %k: tensor<2x5x16xf32>,
                           %v: tensor<2x5x8xf32>, %len: tensor<2xi32>)
    -> tensor<2x7x8xf32> {
  %0 = xf.attention %q, %k, %v key_lengths(%len)
      {num_heads = 2 : i64, scale = 0.5 : f64, causal}
      : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>,
         tensor<2xi32>) -> tensor<2x7x8xf32>
  return %0 : tensor<2x7x8xf32>
}

// -----

// Causal only: the mask compares j > i and reads no lengths.

// CHECK-LABEL: func.func @attention_causal
// CHECK: linalg.generic {{.*}} ins(%{{.*}} : tensor<1x4x3x3xf32>) outs(
// CHECK: %[[J:.*]] = linalg.index 3 : index
// CHECK: %[[I:.*]] = linalg.index 2 : index
// CHECK: %[[M:.*]] = arith.cmpi sgt, %[[J]], %[[I]] : index
// CHECK-NOT: arith.cmpi sge
// CHECK: arith.select %[[M]]
func.func @attention_causal(%q: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 4 : i64, scale = 1.0 : f64, causal}
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>)
      -> tensor<1x3x8xf32>
  return %0 : tensor<1x3x8xf32>
}

// -----

// Key lengths only.

// CHECK-LABEL: func.func @attention_key_lengths
// CHECK: ^bb0(%{{[^:]*}}: f32, %[[L:[^:]*]]: i32, %{{[^:]*}}: f32):
// CHECK-NOT: arith.cmpi sgt
// CHECK: %[[J:.*]] = linalg.index 3 : index
// CHECK: %[[N:.*]] = arith.index_cast %[[L]] : i32 to index
// CHECK: %[[M:.*]] = arith.cmpi sge, %[[J]], %[[N]] : index
// CHECK-NOT: arith.ori
// CHECK: arith.select %[[M]]
func.func @attention_key_lengths(%q: tensor<1x3x8xf32>, %len: tensor<1xi32>)
    -> tensor<1x3x8xf32> {
  %0 = xf.attention %q, %q, %q key_lengths(%len)
      {num_heads = 4 : i64, scale = 1.0 : f64}
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>,
         tensor<1xi32>) -> tensor<1x3x8xf32>
  return %0 : tensor<1x3x8xf32>
}

// -----

// No mask: the scaled scores go straight to the softmax.

// CHECK-LABEL: func.func @attention_unmasked
// CHECK: ^bb0(%[[S:[^:]*]]: f32, %{{[^:]*}}: f32):
// CHECK-NEXT: %[[C:.*]] = arith.constant 1.250000e-01 : f32
// CHECK-NEXT: %[[X:.*]] = arith.mulf %[[S]], %[[C]] : f32
// CHECK-NEXT: linalg.index 3
// CHECK-NEXT: linalg.yield %[[X]]
func.func @attention_unmasked(%q: tensor<1x3x8xf32>) -> tensor<1x3x8xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f64}
      : (tensor<1x3x8xf32>, tensor<1x3x8xf32>, tensor<1x3x8xf32>)
      -> tensor<1x3x8xf32>
  return %0 : tensor<1x3x8xf32>
}

// -----

// A rank-1 input is a single row: [K] -> [1, K] -> matmul -> [N].
// CHECK-LABEL: func.func @linear_vector
// CHECK: tensor.expand_shape %{{.*}} {{\[\[}}0, 1]] output_shape [1, 16] : tensor<16xf32> into tensor<1x16xf32>
// CHECK: linalg.generic
// CHECK: tensor.collapse_shape %{{.*}} {{\[\[}}0, 1]] : tensor<1x32xf32> into tensor<32xf32>
func.func @linear_vector(%x: tensor<16xf32>, %w: tensor<32x16xf32>) -> tensor<32xf32> {
  %0 = xf.linear %x, %w : (tensor<16xf32>, tensor<32x16xf32>) -> tensor<32xf32>
  return %0 : tensor<32xf32>
}

// -----

// Transformer-XL: the memory concatenation reads each input with clamped
// indices, the next memory is a shifted copy, and relative attention is
// contractions (the projected encoding P^T = W_kR R^T, the content scores
// (q + u) K^T, the position scores (q + v) P^T against every row), the key
// dimensions padded to 48, then the shift as the read map of the position
// scores, and the masks per (i, j).

// CHECK-DAG: #[[SHIFT:.*]] = affine_map<(d0, d1, d2) -> (d0, d1 + 7, d2)>
// CHECK-DAG: #[[REL:.*]] = affine_map<(d0, d1, d2, d3) -> (d1, d0 * 7 + d2, d3 - d2 + 6)>
// CHECK-LABEL: func.func @segment_recurrence
// CHECK: %[[KV:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<1x15x16xf32>)
// CHECK: arith.minsi %{{.*}}, %c7
// CHECK: arith.select
// CHECK: linalg.generic {indexing_maps = [#[[SHIFT]], {{.*}}} ins(%[[KV]] : tensor<1x15x16xf32>) outs(%{{.*}} : tensor<1x8x16xf32>)
// The encoding: one divisor 10000^(2k / 16) per frequency, then distance
// 14 - p in the sine rows and the cosine rows of R^T.
// CHECK: %[[DIV:.*]] = linalg.generic {{.*}} outs(%{{.*}} : tensor<8xf64>)
// CHECK: math.powf
// CHECK: %[[SIN:.*]] = linalg.generic {{.*}} ins(%[[DIV]] : tensor<8xf64>) outs(%{{.*}} : tensor<8x15xf32>)
// CHECK: arith.subi %c14
// CHECK: %[[R1:.*]] = tensor.insert_slice %[[SIN]] into %{{.*}}[0, 0] [8, 15]
// CHECK: %[[COS:.*]] = linalg.generic {{.*}} ins(%[[DIV]] : tensor<8xf64>) outs(%{{.*}} : tensor<8x15xf32>)
// CHECK: %[[R:.*]] = tensor.insert_slice %[[COS]] into %[[R1]][8, 0] [8, 15]
// CHECK: %[[P:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %[[R]] : tensor<16x16xf32>, tensor<16x15xf32>) outs(%{{.*}} : tensor<16x15xf32>)
// CHECK: %[[PPAD:.*]] = tensor.insert_slice %[[P]] into %{{.*}}[0, 0] [16, 15] [1, 1] : tensor<16x15xf32> into tensor<16x48xf32>
// CHECK: %[[PH:.*]] = tensor.expand_shape %[[PPAD]] {{\[}}[0, 1], [2]] {{.*}} into tensor<2x8x48xf32>
// CHECK: %[[QU:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x7x2x8xf32>, tensor<2x8xf32>) outs(%{{.*}} : tensor<1x2x7x8xf32>)
// CHECK: %[[QV:.*]] = linalg.generic {{.*}} ins(%{{.*}}, %{{.*}} : tensor<1x7x2x8xf32>, tensor<2x8xf32>) outs(%{{.*}} : tensor<2x1x7x8xf32>)
// CHECK: %[[QVM:.*]] = tensor.collapse_shape %[[QV]]
// CHECK: %[[KT:.*]] = tensor.insert_slice %{{.*}} : tensor<1x2x8x15xf32> into tensor<1x2x8x48xf32>
// CHECK: %[[AC:.*]] = linalg.generic {{.*}} ins(%[[QU]], %[[KT]] : {{.*}}) outs(%{{.*}} : tensor<1x2x7x48xf32>)
// CHECK: %[[BD:.*]] = linalg.generic {{.*}} ins(%[[QVM]], %[[PH]] : {{.*}}) outs(%{{.*}} : tensor<2x7x48xf32>)
// CHECK: %[[ACS:.*]] = tensor.extract_slice %[[AC]][0, 0, 0, 0] [1, 2, 7, 15]
// The shift: row 6 - i + j of query 7 b + i; causal over memory 8 + i,
// unfilled memory.
// CHECK: linalg.generic {indexing_maps = [#[[REL]], {{.*}} ins(%[[BD]], %{{.*}} : tensor<2x7x48xf32>, tensor<1xi32>) outs(%[[ACS]] : tensor<1x2x7x15xf32>)
// CHECK: arith.cmpi sgt
// CHECK: arith.cmpi slt
// CHECK: arith.select %{{.*}}, %cst{{.*}}, %{{.*}} : f32
// NOXF-NOT: xf.
func.func @segment_recurrence(%x: tensor<1x7x16xf32>, %mem: tensor<1x8x16xf32>,
                              %wr: tensor<16x16xf32>, %u: tensor<2x8xf32>,
                              %v: tensor<2x8xf32>, %len: tensor<1xi32>)
    -> (tensor<1x7x16xf32>, tensor<1x8x16xf32>) {
  %kv = xf.sequence_concat %mem, %x
      : (tensor<1x8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x15x16xf32>
  %next = xf.sequence_slice %kv {offset = 7 : i64}
      : tensor<1x15x16xf32> -> tensor<1x8x16xf32>
  %o = xf.relative_attention %x, %kv, %kv, position(%wr), u(%u), v(%v)
      memory_lengths(%len) {num_heads = 2 : i64, scale = 0.35355339059327373 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>,
         tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<1xi32>)
      -> tensor<1x7x16xf32>
  return %o, %next : tensor<1x7x16xf32>, tensor<1x8x16xf32>
}

// -----

// Mean pooling: a masked sum over the positions (reduction innermost,
// position from linalg.index, compared with the clamped length), a division
// by max(n, 1), then the L2 normalization (sum of squares, sqrt, max with
// epsilon, divide).
// CHECK-LABEL: func.func @sentence_pool_mean
// CHECK: %[[SUM:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}}, %{{.*}} : tensor<2x7x16xf32>, tensor<2xi32>) outs(%{{.*}} : tensor<2x16xf32>)
// CHECK: %[[POS:.*]] = linalg.index 2
// CHECK: arith.maxsi
// CHECK: %[[N:.*]] = arith.minsi
// CHECK: %[[VALID:.*]] = arith.cmpi slt, %{{.*}}, %[[N]] : i32
// CHECK: arith.select %[[VALID]]
// CHECK: arith.addf
// CHECK: %[[MEAN:.*]] = linalg.generic {{.*}} ins(%[[SUM]], %{{.*}} : tensor<2x16xf32>, tensor<2xi32>)
// CHECK: arith.maxsi %{{.*}}, %c1_i32
// CHECK: arith.sitofp
// CHECK: arith.divf
// CHECK: %[[SQ:.*]] = linalg.generic {{.*}}iterator_types = ["parallel", "reduction"]} ins(%[[MEAN]] : tensor<2x16xf32>) outs(%{{.*}} : tensor<2xf32>)
// CHECK: arith.mulf
// CHECK: linalg.generic {{.*}} ins(%[[MEAN]], %[[SQ]] : tensor<2x16xf32>, tensor<2xf32>)
// CHECK: math.sqrt
// CHECK: arith.maximumf
// CHECK: arith.divf
// NOXF-LABEL: func.func @sentence_pool_mean
// NOXF-NOT: xf.
func.func @sentence_pool_mean(%h: tensor<2x7x16xf32>, %len: tensor<2xi32>) -> tensor<2x16xf32> {
  %0 = xf.sentence_pool mean %h, %len {normalize = true}
      : (tensor<2x7x16xf32>, tensor<2xi32>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}

// -----

// Without lengths every position counts (division by S); cls copies
// position 0; without normalize nothing follows.
// CHECK-LABEL: func.func @sentence_pool_unmasked_and_cls
// CHECK: linalg.generic {{.*}}iterator_types = ["parallel", "parallel", "reduction"]
// CHECK-SAME: ins(%{{.*}} : tensor<2x7x16xf32>)
// CHECK-NOT: linalg.index
// CHECK: arith.constant 7.000000e+00 : f32
// CHECK: arith.divf
// CHECK: linalg.generic {indexing_maps = [#[[FIRST:.*]], #{{.*}}], iterator_types = ["parallel", "parallel"]} ins(%{{.*}} : tensor<2x7x16xf32>)
// CHECK-NOT: math.sqrt
// CHECK: return
func.func @sentence_pool_unmasked_and_cls(%h: tensor<2x7x16xf32>)
    -> (tensor<2x16xf32>, tensor<2x16xf32>) {
  %0 = xf.sentence_pool mean %h : (tensor<2x7x16xf32>) -> tensor<2x16xf32>
  %1 = xf.sentence_pool cls %h : (tensor<2x7x16xf32>) -> tensor<2x16xf32>
  return %0, %1 : tensor<2x16xf32>, tensor<2x16xf32>
}

// -----

// The key/value cache write: one tensor.insert_slice into the cache at the
// position (clamped into [0, C - T] = [0, 63]), which bufferizes in place;
// nothing reads or copies the other rows. Without a position, row 0.
// CHECK-LABEL: func.func @cache_write
// CHECK-SAME: (%[[CACHE:.*]]: tensor<2x64x16xf32>, %[[K:.*]]: tensor<2x1x16xf32>, %[[POS:.*]]: tensor<1xi32>, %[[PROMPT:.*]]: tensor<2x7x16xf32>)
// CHECK: %[[RAW:.*]] = tensor.extract %[[POS]][%{{.*}}] : tensor<1xi32>
// CHECK: %[[IDX:.*]] = arith.index_cast %[[RAW]] : i32 to index
// CHECK: %[[LOW:.*]] = arith.maxsi %[[IDX]], %{{.*}} : index
// CHECK: %[[ROW:.*]] = arith.minsi %[[LOW]], %{{.*}} : index
// CHECK: %[[W:.*]] = tensor.insert_slice %[[K]] into %[[CACHE]][0, %[[ROW]], 0] [2, 1, 16] [1, 1, 1] : tensor<2x1x16xf32> into tensor<2x64x16xf32>
// CHECK-NOT: linalg.generic
// CHECK: tensor.insert_slice %[[PROMPT]] into %[[CACHE]][0, 0, 0] [2, 7, 16] [1, 1, 1] : tensor<2x7x16xf32> into tensor<2x64x16xf32>
func.func @cache_write(%cache: tensor<2x64x16xf32>, %k: tensor<2x1x16xf32>,
                       %pos: tensor<1xi32>, %prompt: tensor<2x7x16xf32>)
    -> (tensor<2x64x16xf32>, tensor<2x64x16xf32>) {
  %0 = xf.cache_write %cache, %k, %pos
      : (tensor<2x64x16xf32>, tensor<2x1x16xf32>, tensor<1xi32>)
      -> tensor<2x64x16xf32>
  %1 = xf.cache_write %cache, %prompt
      : (tensor<2x64x16xf32>, tensor<2x7x16xf32>) -> tensor<2x64x16xf32>
  return %0, %1 : tensor<2x64x16xf32>, tensor<2x64x16xf32>
}

// -----

// An update as large as the cache: not an insert_slice (a whole-tensor
// insert folds to its source, which would drop the write) but a
// materialization into the cache.
// CHECK-LABEL: func.func @cache_write_whole
// CHECK-SAME: (%[[CACHE:.*]]: tensor<1x8x16xf32>, %[[PROMPT:.*]]: tensor<1x8x16xf32>)
// CHECK: %[[W:.*]] = bufferization.materialize_in_destination %[[PROMPT]] in %[[CACHE]] : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
// CHECK: return %[[W]]
func.func @cache_write_whole(%cache: tensor<1x8x16xf32>,
                             %prompt: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %0 = xf.cache_write %cache, %prompt
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>) -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}
