// Every verifier message of the xf ops (dialect/lib/XF/XFOps.cpp), plus the
// constraints ODS generates (element types, positive num_heads).
// RUN: xfc-opt %s -split-input-file -verify-diagnostics

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

func.func @dynamic_shape(%x: tensor<?x7x16xf32>) -> tensor<?x7x16xf32> {
  // expected-error @+1 {{'xf.softmax' op requires static shapes, found 'tensor<?x7x16xf32>'}}
  %0 = xf.softmax %x : tensor<?x7x16xf32>
  return %0 : tensor<?x7x16xf32>
}

// -----

func.func @dynamic_result(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x?x32xf32> {
  // expected-error @+1 {{'xf.linear' op requires static shapes, found 'tensor<2x?x32xf32>'}}
  %0 = xf.linear %x, %w : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x?x32xf32>
  return %0 : tensor<2x?x32xf32>
}

// -----

func.func @i32_input(%x: tensor<2x7x16xi32>, %w: tensor<32x16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.linear' op operand #0 must be ranked tensor of 32-bit float values, but got 'tensor<2x7x16xi32>'}}
  %0 = xf.linear %x, %w : (tensor<2x7x16xi32>, tensor<32x16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @f32_ids(%ids: tensor<2x7xf32>, %t: tensor<64x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.embedding' op operand #0 must be ranked tensor of 32-bit signless integer values, but got 'tensor<2x7xf32>'}}
  %0 = xf.embedding %ids, %t : (tensor<2x7xf32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @add_mismatch(%x: tensor<2x7x16xf32>, %y: tensor<2x7x8xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.add' op requires the same type for all operands and results}}
  %0 = "xf.add"(%x, %y) : (tensor<2x7x16xf32>, tensor<2x7x8xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.embedding
//===----------------------------------------------------------------------===//

// -----

func.func @embedding_ids_rank(%ids: tensor<14xi32>, %t: tensor<64x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.embedding' op ids must have rank 2, found rank 1 ([14])}}
  %0 = xf.embedding %ids, %t : (tensor<14xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @embedding_table_rank(%ids: tensor<2x7xi32>, %t: tensor<64x16x1xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.embedding' op table must have rank 2, found rank 3 ([64, 16, 1])}}
  %0 = xf.embedding %ids, %t : (tensor<2x7xi32>, tensor<64x16x1xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @embedding_scale(%ids: tensor<2x7xi32>, %t: tensor<64x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.embedding' op scale must be finite}}
  %0 = xf.embedding %ids, %t {scale = 0x7FF0000000000000 : f64} : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @embedding_result(%ids: tensor<2x7xi32>, %t: tensor<64x16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.embedding' op result must have shape [2, 7, 16], found [2, 7, 32]}}
  %0 = xf.embedding %ids, %t : (tensor<2x7xi32>, tensor<64x16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

//===----------------------------------------------------------------------===//
// xf.positional_encoding
//===----------------------------------------------------------------------===//

// -----

func.func @positional_rank(%x: tensor<7x16xf32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op input must have rank 3, found rank 2 ([7, 16])}}
  %0 = xf.positional_encoding sinusoidal %x : (tensor<7x16xf32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @positional_positions_shape(%x: tensor<2x7x16xf32>, %p: tensor<2x1xi32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op positions must have shape [2, 7], found [2, 1]}}
  %0 = xf.positional_encoding sinusoidal %x positions %p : (tensor<2x7x16xf32>, tensor<2x1xi32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @positional_learned_positions(%x: tensor<2x7x16xf32>, %t: tensor<32x16xf32>, %p: tensor<2x7xi32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op learned encoding takes no positions operand (look the rows up with xf.embedding)}}
  %0 = xf.positional_encoding learned %x, %t positions %p : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<2x7xi32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @positional_result(%x: tensor<2x7x16xf32>) -> tensor<2x8x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op result must have shape [2, 7, 16], found [2, 8, 16]}}
  %0 = xf.positional_encoding sinusoidal %x : (tensor<2x7x16xf32>) -> tensor<2x8x16xf32>
  return %0 : tensor<2x8x16xf32>
}

// -----

func.func @sinusoidal_with_table(%x: tensor<2x7x16xf32>, %t: tensor<32x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op sinusoidal encoding takes no table operand}}
  %0 = xf.positional_encoding sinusoidal %x, %t : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @learned_without_table(%x: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op learned encoding requires a table operand}}
  %0 = xf.positional_encoding learned %x : (tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @learned_table_rank(%x: tensor<2x7x16xf32>, %t: tensor<512xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op table must have rank 2, found rank 1 ([512])}}
  %0 = xf.positional_encoding learned %x, %t : (tensor<2x7x16xf32>, tensor<512xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @learned_table_width(%x: tensor<2x7x16xf32>, %t: tensor<32x8xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op table width 8 must equal the input's feature size 16}}
  %0 = xf.positional_encoding learned %x, %t : (tensor<2x7x16xf32>, tensor<32x8xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @learned_too_few_positions(%x: tensor<2x7x16xf32>, %t: tensor<6x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.positional_encoding' op table has 6 positions, fewer than the sequence length 7}}
  %0 = xf.positional_encoding learned %x, %t : (tensor<2x7x16xf32>, tensor<6x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.layer_norm and xf.softmax
//===----------------------------------------------------------------------===//

// -----

func.func @layer_norm_rank0(%x: tensor<f32>, %g: tensor<1xf32>) -> tensor<f32> {
  // expected-error @+1 {{'xf.layer_norm' op input must have rank >= 1}}
  %0 = xf.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64} : (tensor<f32>, tensor<1xf32>, tensor<1xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @layer_norm_gamma(%x: tensor<2x7x16xf32>, %g: tensor<8xf32>, %b: tensor<16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op gamma must have shape [16], found [8]}}
  %0 = xf.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<8xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @layer_norm_beta(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>, %b: tensor<1x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op beta must have shape [16], found [1, 16]}}
  %0 = xf.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<1x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @layer_norm_result(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>) -> tensor<2x7x8xf32> {
  // expected-error @+1 {{'xf.layer_norm' op result must have shape [2, 7, 16], found [2, 7, 8]}}
  %0 = xf.layer_norm %x, %g, %g {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x8xf32>
  return %0 : tensor<2x7x8xf32>
}

// -----

func.func @layer_norm_epsilon_zero(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op epsilon must be positive and finite, found 0.000000e+00}}
  %0 = xf.layer_norm %x, %g, %g {epsilon = 0.0 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @layer_norm_epsilon_negative(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op epsilon must be positive and finite, found -1.000000e+00}}
  %0 = xf.layer_norm %x, %g, %g {epsilon = -1.0 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @softmax_rank0(%x: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{'xf.softmax' op input must have rank >= 1}}
  %0 = xf.softmax %x : tensor<f32>
  return %0 : tensor<f32>
}

//===----------------------------------------------------------------------===//
// xf.linear
//===----------------------------------------------------------------------===//

// -----

func.func @linear_weight_rank(%x: tensor<2x7x16xf32>, %w: tensor<512xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.linear' op weight must have rank 2, found rank 1 ([512])}}
  %0 = xf.linear %x, %w : (tensor<2x7x16xf32>, tensor<512xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @linear_input_rank0(%x: tensor<f32>, %w: tensor<32x16xf32>) -> tensor<32xf32> {
  // expected-error @+1 {{'xf.linear' op input must have rank >= 1}}
  %0 = xf.linear %x, %w : (tensor<f32>, tensor<32x16xf32>) -> tensor<32xf32>
  return %0 : tensor<32xf32>
}

// -----

func.func @linear_features_out_in(%x: tensor<2x7x16xf32>, %w: tensor<16x32xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.linear' op input feature size 16 does not match the weight [16, 32] ([out, in] layout)}}
  %0 = xf.linear %x, %w : (tensor<2x7x16xf32>, tensor<16x32xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @linear_features_in_out(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.linear' op input feature size 16 does not match the weight [32, 16] ([in, out] layout)}}
  %0 = xf.linear %x, %w {transpose_weight} : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @linear_bias(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>, %b: tensor<16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.linear' op bias must have shape [32], found [16]}}
  %0 = xf.linear %x, %w, %b : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @linear_bias_transposed(%x: tensor<2x7x16xf32>, %w: tensor<16x32xf32>, %b: tensor<16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.linear' op bias must have shape [32], found [16]}}
  %0 = xf.linear %x, %w, %b {transpose_weight} : (tensor<2x7x16xf32>, tensor<16x32xf32>, tensor<16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @linear_result(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.linear' op result must have shape [2, 7, 32], found [2, 7, 16]}}
  %0 = xf.linear %x, %w : (tensor<2x7x16xf32>, tensor<32x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.feed_forward
//===----------------------------------------------------------------------===//

// -----

func.func @ffn_fc1_rank(%x: tensor<2x7x16xf32>, %w1: tensor<64xf32>, %w2: tensor<16x64xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.feed_forward' op fc1 weight must have rank 2, found rank 1 ([64])}}
  %0 = xf.feed_forward gelu %x, fc1(%w1), fc2(%w2) : (tensor<2x7x16xf32>, tensor<64xf32>, tensor<16x64xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @ffn_input_rank0(%x: tensor<f32>, %w1: tensor<64x16xf32>, %w2: tensor<16x64xf32>) -> tensor<f32> {
  // expected-error @+1 {{'xf.feed_forward' op input must have rank >= 1}}
  %0 = xf.feed_forward gelu %x, fc1(%w1), fc2(%w2) : (tensor<f32>, tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @ffn_fc1_weight(%x: tensor<2x7x16xf32>, %w1: tensor<64x8xf32>, %w2: tensor<16x64xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.feed_forward' op fc1 weight must have shape [64, 16], found [64, 8]}}
  %0 = xf.feed_forward gelu %x, fc1(%w1), fc2(%w2) : (tensor<2x7x16xf32>, tensor<64x8xf32>, tensor<16x64xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @ffn_fc2_weight(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>, %w2: tensor<64x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.feed_forward' op fc2 weight must have shape [16, 64], found [64, 16]}}
  %0 = xf.feed_forward relu %x, fc1(%w1), fc2(%w2) : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<64x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @ffn_fc1_bias(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>, %b1: tensor<16xf32>, %w2: tensor<16x64xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.feed_forward' op fc1 bias must have shape [64], found [16]}}
  %0 = xf.feed_forward gelu %x, fc1(%w1, %b1), fc2(%w2) : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16xf32>, tensor<16x64xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @ffn_fc2_bias(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>, %w2: tensor<16x64xf32>, %b2: tensor<64xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.feed_forward' op fc2 bias must have shape [16], found [64]}}
  %0 = xf.feed_forward gelu %x, fc1(%w1), fc2(%w2, %b2) : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>, tensor<64xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @ffn_result(%x: tensor<2x7x16xf32>, %w1: tensor<64x16xf32>, %w2: tensor<16x64xf32>) -> tensor<2x7x64xf32> {
  // expected-error @+1 {{'xf.feed_forward' op result must have shape [2, 7, 16], found [2, 7, 64]}}
  %0 = xf.feed_forward gelu %x, fc1(%w1), fc2(%w2) : (tensor<2x7x16xf32>, tensor<64x16xf32>, tensor<16x64xf32>) -> tensor<2x7x64xf32>
  return %0 : tensor<2x7x64xf32>
}

//===----------------------------------------------------------------------===//
// xf.multi_head_attention
//===----------------------------------------------------------------------===//

// -----

func.func @mha_query_rank(%x: tensor<7x16xf32>, %w: tensor<16x16xf32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op query must have rank 3, found rank 2 ([7, 16])}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<7x16xf32>, tensor<7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @mha_key_value_rank(%x: tensor<2x7x16xf32>, %m: tensor<16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op key_value must have rank 3, found rank 1 ([16])}}
  %0 = xf.multi_head_attention %x, %m, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_batch(%x: tensor<2x7x16xf32>, %m: tensor<3x5x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op query batch 2 differs from key_value batch 3}}
  %0 = xf.multi_head_attention %x, %m, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<3x5x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_heads_divide(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op query width 16 is not divisible by num_heads = 3}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w) {num_heads = 3 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_num_heads_zero(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w) {num_heads = 0 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_q_weight(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>, %wq: tensor<8x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op q weight must have shape [16, 16], found [8, 16]}}
  %0 = xf.multi_head_attention %x, %x, q(%wq), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<8x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

// Cross-attention: k and v read the key_value width (8), not the query's.
func.func @mha_k_weight(%x: tensor<2x7x16xf32>, %m: tensor<2x5x8xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op k weight must have shape [16, 8], found [16, 16]}}
  %0 = xf.multi_head_attention %x, %m, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x5x8xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_v_bias(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>, %b: tensor<8xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op v bias must have shape [16], found [8]}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w, %b), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<8xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_out_weight(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>, %wo: tensor<16x32xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op out weight must have shape [16, 16], found [16, 32]}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%wo) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x32xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_key_lengths(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>, %len: tensor<3xi32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op key_lengths must have shape [2], found [3]}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w) key_lengths(%len) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<3xi32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_scale(%x: tensor<2x7x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op scale must be positive and finite, found -5.000000e-01}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64, scale = -0.5 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @mha_result(%x: tensor<2x7x16xf32>, %m: tensor<2x5x16xf32>, %w: tensor<16x16xf32>) -> tensor<2x5x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op result must have shape [2, 7, 16], found [2, 5, 16]}}
  %0 = xf.multi_head_attention %x, %m, q(%w), k(%w), v(%w), out(%w) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>) -> tensor<2x5x16xf32>
  return %0 : tensor<2x5x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.attention
//===----------------------------------------------------------------------===//

// -----

func.func @attention_value_rank(%q: tensor<2x7x16xf32>, %v: tensor<5x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op value must have rank 3, found rank 2 ([5, 16])}}
  %0 = xf.attention %q, %q, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<5x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_key_width(%q: tensor<2x7x16xf32>, %k: tensor<2x5x8xf32>, %v: tensor<2x5x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op key must have shape [2, 5, 16], found [2, 5, 8]}}
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x5x8xf32>, tensor<2x5x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_key_batch(%q: tensor<2x7x16xf32>, %k: tensor<3x5x16xf32>, %v: tensor<2x5x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op key must have shape [2, 5, 16], found [3, 5, 16]}}
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<3x5x16xf32>, tensor<2x5x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_value_length(%q: tensor<2x7x16xf32>, %k: tensor<2x5x16xf32>, %v: tensor<2x4x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op value must have shape [2, 5, 16], found [2, 4, 16]}}
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x4x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_query_heads(%q: tensor<2x7x16xf32>, %v: tensor<2x7x15xf32>) -> tensor<2x7x15xf32> {
  // expected-error @+1 {{'xf.attention' op query width 16 is not divisible by num_heads = 5}}
  %0 = xf.attention %q, %q, %v {num_heads = 5 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x15xf32>) -> tensor<2x7x15xf32>
  return %0 : tensor<2x7x15xf32>
}

// -----

func.func @attention_value_heads(%q: tensor<2x7x16xf32>, %v: tensor<2x7x6xf32>) -> tensor<2x7x6xf32> {
  // expected-error @+1 {{'xf.attention' op value width 6 is not divisible by num_heads = 4}}
  %0 = xf.attention %q, %q, %v {num_heads = 4 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x6xf32>) -> tensor<2x7x6xf32>
  return %0 : tensor<2x7x6xf32>
}

// -----

func.func @attention_num_heads_negative(%q: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op attribute 'num_heads' failed to satisfy constraint: 64-bit signless integer attribute whose value is positive}}
  %0 = xf.attention %q, %q, %q {num_heads = -2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_key_lengths(%q: tensor<2x7x16xf32>, %len: tensor<2x1xi32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op key_lengths must have shape [2], found [2, 1]}}
  %0 = xf.attention %q, %q, %q key_lengths(%len) {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x1xi32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_scale_zero(%q: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op scale must be positive and finite, found 0.000000e+00}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.0 : f64} : (tensor<2x7x16xf32>, tensor<2x7x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @attention_result(%q: tensor<2x7x16xf32>, %k: tensor<2x5x16xf32>, %v: tensor<2x5x8xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.attention' op result must have shape [2, 7, 8], found [2, 7, 16]}}
  %0 = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.25 : f64} : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x8xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @embedding_empty_table(%ids: tensor<2x7xi32>, %table: tensor<0x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.embedding' op table must have at least one row}}
  %0 = xf.embedding %ids, %table : (tensor<2x7xi32>, tensor<0x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

//===----------------------------------------------------------------------===//
// Fused forms: linear epilogue, layer_norm with residual, split
//===----------------------------------------------------------------------===//

// -----

func.func @linear_residual_shape(%x: tensor<2x7x16xf32>, %w: tensor<32x16xf32>, %r: tensor<2x7x16xf32>) -> tensor<2x7x32xf32> {
  // expected-error @+1 {{'xf.linear' op residual must have shape [2, 7, 32], found [2, 7, 16]}}
  %0 = xf.linear %x, %w residual(%r) : (tensor<2x7x16xf32>, tensor<32x16xf32>, tensor<2x7x16xf32>) -> tensor<2x7x32xf32>
  return %0 : tensor<2x7x32xf32>
}

// -----

func.func @layer_norm_residual_shape(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>, %r: tensor<2x1x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op residual must have shape [2, 7, 16], found [2, 1, 16]}}
  %0 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x1x16xf32>) -> tensor<2x7x16xf32>
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @layer_norm_sum_without_residual(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op has a sum result but no residual operand}}
  %0, %1 = xf.layer_norm %x, %g, %b {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>) -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>)
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @layer_norm_sum_shape(%x: tensor<2x7x16xf32>, %g: tensor<16xf32>, %b: tensor<16xf32>, %r: tensor<2x7x16xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.layer_norm' op sum must have shape [2, 7, 16], found [14, 16]}}
  %0, %1 = xf.layer_norm %x, %g, %b residual(%r) {epsilon = 1.0e-05 : f64} : (tensor<2x7x16xf32>, tensor<16xf32>, tensor<16xf32>, tensor<2x7x16xf32>) -> (tensor<2x7x16xf32>, tensor<14x16xf32>)
  return %0 : tensor<2x7x16xf32>
}

// -----

func.func @split_no_results(%x: tensor<2x7x48xf32>) {
  // expected-error @+1 {{'xf.split' op must have at least one result}}
  "xf.split"(%x) : (tensor<2x7x48xf32>) -> ()
  return
}

// -----

func.func @split_coverage(%x: tensor<2x7x48xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.split' op results cover 32 columns of the last dimension, but the input has 48}}
  %0:2 = xf.split %x : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x7x16xf32>
  return %0#0 : tensor<2x7x16xf32>
}

// -----

func.func @split_leading_dims(%x: tensor<2x7x48xf32>) -> tensor<2x7x16xf32> {
  // expected-error @+1 {{'xf.split' op result 1 must have the input's shape [2, 7, 48] with a positive last dimension, found [2, 6, 32]}}
  %0:2 = xf.split %x : tensor<2x7x48xf32> -> tensor<2x7x16xf32>, tensor<2x6x32xf32>
  return %0#0 : tensor<2x7x16xf32>
}

// -----

func.func @split_rank0(%x: tensor<f32>) -> tensor<f32> {
  // expected-error @+1 {{'xf.split' op input must have rank >= 1}}
  %0 = xf.split %x : tensor<f32> -> tensor<f32>
  return %0 : tensor<f32>
}

// -----

func.func @linear_panel_width(%x: tensor<7x16xf32>, %w: tensor<2x16x12xf32>) -> tensor<7x24xf32> {
  // expected-error @+1 {{'xf.linear' op packed weight [2, 16, 12] must have panels of weight_panel = 8 columns as its last dimension}}
  %0 = xf.linear %x, %w {weight_panel = 8 : i64} : (tensor<7x16xf32>, tensor<2x16x12xf32>) -> tensor<7x24xf32>
  return %0 : tensor<7x24xf32>
}

// -----

func.func @linear_panel_and_transpose(%x: tensor<7x16xf32>, %w: tensor<2x16x12xf32>) -> tensor<7x24xf32> {
  // expected-error @+1 {{'xf.linear' op weight_panel and transpose_weight are exclusive}}
  %0 = xf.linear %x, %w {weight_panel = 12 : i64, transpose_weight} : (tensor<7x16xf32>, tensor<2x16x12xf32>) -> tensor<7x24xf32>
  return %0 : tensor<7x24xf32>
}

// -----

func.func @linear_panel_count(%x: tensor<7x16xf32>, %w: tensor<3x16x12xf32>) -> tensor<7x24xf32> {
  // expected-error @+1 {{'xf.linear' op packed weight [3, 16, 12] has 3 panels, but 24 output features need 2 (the last one padded with zeros)}}
  %0 = xf.linear %x, %w {weight_panel = 12 : i64} : (tensor<7x16xf32>, tensor<3x16x12xf32>) -> tensor<7x24xf32>
  return %0 : tensor<7x24xf32>
}

// -----

func.func @linear_padded_panel_residual(%x: tensor<7x16xf32>, %w: tensor<2x16x12xf32>, %r: tensor<7x22xf32>) -> tensor<7x22xf32> {
  // expected-error @+1 {{'xf.linear' op a residual needs panels that tile the output features exactly (no padded last panel)}}
  %0 = xf.linear %x, %w residual(%r) {weight_panel = 12 : i64} : (tensor<7x16xf32>, tensor<2x16x12xf32>, tensor<7x22xf32>) -> tensor<7x22xf32>
  return %0 : tensor<7x22xf32>
}

// -----

//===----------------------------------------------------------------------===//
// Attention patterns
//===----------------------------------------------------------------------===//

func.func @pattern_syntax(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+2 {{malformed attention pattern "sliding_window(w = 7)": column 1: sliding_window: the window width w must be even and >= 2, found 7}}
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"sliding_window(w = 7)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @pattern_and_causal(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.attention' op has both `causal` and a pattern: the pattern replaces the causal mask (use a causal pattern such as `causal` or `sliding_window(w = 8, causal)`)}}
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64, causal,
      pattern = #xf.pattern<"sliding_window(w = 4)">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @pattern_groups(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.attention' op pattern has 3 head groups, which do not divide the 2 heads evenly}}
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"causal | causal | causal">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @pattern_size(%x: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.attention' op pattern head group 1 is malformed for 8 queries and 8 keys: global(positions = [8]): global position 8 is outside the sequence [0, 8)}}
  %0 = xf.attention %x, %x, %x {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"causal | global(positions = [8])">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @pattern_layout(%x: tensor<1x8x16xf32>, %w: tensor<16x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.multi_head_attention' op pattern is malformed for 8 queries and 8 keys: block_sparse(b = 4, layout = [[1]]): the layout must be 2 x 2 blocks (ceil(8/4) x ceil(8/4)), found 1 x 1}}
  %0 = xf.multi_head_attention %x, %x, q(%w), k(%w), v(%w), out(%w)
      {num_heads = 2 : i64, pattern = #xf.pattern<"block_sparse(b = 4, layout = [[1]])">}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<16x16xf32>,
         tensor<16x16xf32>, tensor<16x16xf32>, tensor<16x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.sequence_concat, xf.sequence_slice, xf.relative_attention
//===----------------------------------------------------------------------===//

// -----

func.func @concat_width(%a: tensor<1x8x16xf32>, %b: tensor<1x7x8xf32>) -> tensor<1x15x16xf32> {
  // expected-error @+1 {{'xf.sequence_concat' op second must have shape [1, 7, 16], found [1, 7, 8]}}
  %0 = xf.sequence_concat %a, %b : (tensor<1x8x16xf32>, tensor<1x7x8xf32>) -> tensor<1x15x16xf32>
  return %0 : tensor<1x15x16xf32>
}

// -----

func.func @concat_result(%a: tensor<1x8x16xf32>, %b: tensor<1x7x16xf32>) -> tensor<1x14x16xf32> {
  // expected-error @+1 {{'xf.sequence_concat' op result must have shape [1, 15, 16], found [1, 14, 16]}}
  %0 = xf.sequence_concat %a, %b : (tensor<1x8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x14x16xf32>
  return %0 : tensor<1x14x16xf32>
}

// -----

func.func @concat_rank(%a: tensor<8x16xf32>, %b: tensor<1x7x16xf32>) -> tensor<1x15x16xf32> {
  // expected-error @+1 {{'xf.sequence_concat' op first must have rank 3, found rank 2 ([8, 16])}}
  %0 = xf.sequence_concat %a, %b : (tensor<8x16xf32>, tensor<1x7x16xf32>) -> tensor<1x15x16xf32>
  return %0 : tensor<1x15x16xf32>
}

// -----

func.func @slice_outside(%a: tensor<1x15x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.sequence_slice' op positions [8, 16) must lie inside the input's 15 positions}}
  %0 = xf.sequence_slice %a {offset = 8 : i64} : tensor<1x15x16xf32> -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @slice_width(%a: tensor<1x15x16xf32>) -> tensor<1x8x8xf32> {
  // expected-error @+1 {{'xf.sequence_slice' op result must have shape [1, 8, 16], found [1, 8, 8]}}
  %0 = xf.sequence_slice %a {offset = 7 : i64} : tensor<1x15x16xf32> -> tensor<1x8x8xf32>
  return %0 : tensor<1x8x8xf32>
}

// -----

func.func @slice_negative(%a: tensor<1x15x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.sequence_slice' op attribute 'offset' failed to satisfy constraint: 64-bit signless integer attribute whose value is non-negative}}
  %0 = xf.sequence_slice %a {offset = -1 : i64} : tensor<1x15x16xf32> -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @rel_fewer_keys(%q: tensor<1x7x16xf32>, %k: tensor<1x5x16xf32>, %w: tensor<16x16xf32>, %u: tensor<2x8xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op key has 5 positions, fewer than the query's 7 (keys are [memory ; segment])}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x5x16xf32>, tensor<1x5x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_key_width(%q: tensor<1x7x16xf32>, %k: tensor<1x15x8xf32>, %v: tensor<1x15x16xf32>, %w: tensor<16x16xf32>, %u: tensor<2x8xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op key must have shape [1, 15, 16], found [1, 15, 8]}}
  %0 = xf.relative_attention %q, %k, %v, position(%w), u(%u), v(%u) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x8xf32>, tensor<1x15x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_heads(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<16x16xf32>, %u: tensor<3x5xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op query width 16 is not divisible by num_heads = 3}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) {num_heads = 3 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<16x16xf32>, tensor<3x5xf32>, tensor<3x5xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_position_rows(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<8x16xf32>, %u: tensor<2x8xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op position_weight must have 16 rows (num_heads * head_dim), found [8, 16]}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<8x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_position_odd(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<16x15xf32>, %u: tensor<2x8xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op position_weight must have an even number of columns (the [sin | cos] encoding width), found [16, 15]}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<16x15xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_bias(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<16x16xf32>, %u: tensor<2x8xf32>, %v: tensor<8x2xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op position_bias must have shape [2, 8], found [8, 2]}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%v) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<8x2xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_lengths(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<16x16xf32>, %u: tensor<2x8xf32>, %m: tensor<2xi32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op memory_lengths must have shape [1], found [2]}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) memory_lengths(%m) {num_heads = 2 : i64, scale = 0.25 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>, tensor<2xi32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

// -----

func.func @rel_scale(%q: tensor<1x7x16xf32>, %k: tensor<1x15x16xf32>, %w: tensor<16x16xf32>, %u: tensor<2x8xf32>) -> tensor<1x7x16xf32> {
  // expected-error @+1 {{'xf.relative_attention' op scale must be positive and finite, found 0}}
  %0 = xf.relative_attention %q, %k, %k, position(%w), u(%u), v(%u) {num_heads = 2 : i64, scale = 0.0 : f64}
      : (tensor<1x7x16xf32>, tensor<1x15x16xf32>, tensor<1x15x16xf32>, tensor<16x16xf32>, tensor<2x8xf32>, tensor<2x8xf32>) -> tensor<1x7x16xf32>
  return %0 : tensor<1x7x16xf32>
}

//===----------------------------------------------------------------------===//
// LinformerProjectionOp
//===----------------------------------------------------------------------===//

// -----

func.func @linformer_projection_rank(%x: tensor<1x7x16xf32>, %e: tensor<28xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op projection must be [k, n] or [num_heads, k, n] with n = 7, found [28]}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64} : (tensor<1x7x16xf32>, tensor<28xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// -----

func.func @linformer_projection_heads(%x: tensor<1x7x16xf32>, %e: tensor<3x4x7xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op per-head projection must have num_heads = 2 matrices, found [3, 4, 7]}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64} : (tensor<1x7x16xf32>, tensor<3x4x7xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// -----

func.func @linformer_projection_length(%x: tensor<1x7x16xf32>, %e: tensor<4x8xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op projection has 8 columns, but the input has n = 7 positions ([4, 8] against input [1, 7, 16])}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64} : (tensor<1x7x16xf32>, tensor<4x8xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// -----

func.func @linformer_projection_width(%x: tensor<1x7x15xf32>, %e: tensor<4x7xf32>) -> tensor<1x4x15xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op input width 15 is not divisible by num_heads = 2}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64} : (tensor<1x7x15xf32>, tensor<4x7xf32>) -> tensor<1x4x15xf32>
  return %0 : tensor<1x4x15xf32>
}

// -----

func.func @linformer_projection_lengths(%x: tensor<2x7x16xf32>, %e: tensor<4x7xf32>, %len: tensor<3xi32>) -> tensor<2x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op key_lengths must have shape [2], found [3]}}
  %0 = xf.linformer_projection %x, %e key_lengths(%len) {num_heads = 2 : i64} : (tensor<2x7x16xf32>, tensor<4x7xf32>, tensor<3xi32>) -> tensor<2x4x16xf32>
  return %0 : tensor<2x4x16xf32>
}

// -----

func.func @linformer_projection_result(%x: tensor<1x7x16xf32>, %e: tensor<4x7xf32>) -> tensor<1x5x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op result must have shape [1, 4, 16], found [1, 5, 16]}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64} : (tensor<1x7x16xf32>, tensor<4x7xf32>) -> tensor<1x5x16xf32>
  return %0 : tensor<1x5x16xf32>
}

// -----

func.func @linformer_projection_not_linformer(%x: tensor<1x7x16xf32>, %e: tensor<4x7xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op pattern must be a linformer pattern, found "causal"}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64, pattern = #xf.pattern<"causal">} : (tensor<1x7x16xf32>, tensor<4x7xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// -----

func.func @linformer_projection_k(%x: tensor<1x7x16xf32>, %e: tensor<4x7xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op pattern projects to k = 8 rows, the projection has k = 4}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64, pattern = #xf.pattern<"linformer(k = 8)">} : (tensor<1x7x16xf32>, tensor<4x7xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

// -----

func.func @linformer_projection_sharing(%x: tensor<1x7x16xf32>, %e: tensor<4x7xf32>) -> tensor<1x4x16xf32> {
  // expected-error @+1 {{'xf.linformer_projection' op pattern "linformer(k = 4, sharing = none)" needs a [num_heads, k, n] projection, found [4, 7]}}
  %0 = xf.linformer_projection %x, %e {num_heads = 2 : i64, pattern = #xf.pattern<"linformer(k = 4, sharing = none)">} : (tensor<1x7x16xf32>, tensor<4x7xf32>) -> tensor<1x4x16xf32>
  return %0 : tensor<1x4x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.sentence_pool
//===----------------------------------------------------------------------===//

// -----

func.func @pool_rank(%h: tensor<7x16xf32>) -> tensor<7x16xf32> {
  // expected-error @+1 {{'xf.sentence_pool' op input must have rank 3, found rank 2 ([7, 16])}}
  %0 = xf.sentence_pool mean %h : (tensor<7x16xf32>) -> tensor<7x16xf32>
  return %0 : tensor<7x16xf32>
}

// -----

func.func @pool_lengths(%h: tensor<2x7x16xf32>, %len: tensor<3xi32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{'xf.sentence_pool' op lengths must have shape [2], found [3]}}
  %0 = xf.sentence_pool mean %h, %len : (tensor<2x7x16xf32>, tensor<3xi32>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}

// -----

func.func @pool_result(%h: tensor<2x7x16xf32>) -> tensor<2x7xf32> {
  // expected-error @+1 {{'xf.sentence_pool' op result must have shape [2, 16], found [2, 7]}}
  %0 = xf.sentence_pool mean %h : (tensor<2x7x16xf32>) -> tensor<2x7xf32>
  return %0 : tensor<2x7xf32>
}

// -----

func.func @pool_empty(%h: tensor<2x0x16xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{'xf.sentence_pool' op input must have at least one position, found 0}}
  %0 = xf.sentence_pool cls %h : (tensor<2x0x16xf32>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}

// -----

func.func @pool_epsilon(%h: tensor<2x7x16xf32>) -> tensor<2x16xf32> {
  // expected-error @+1 {{'xf.sentence_pool' op epsilon must be positive, found 0}}
  %0 = xf.sentence_pool mean %h {normalize = true, epsilon = 0.0 : f64} : (tensor<2x7x16xf32>) -> tensor<2x16xf32>
  return %0 : tensor<2x16xf32>
}

//===----------------------------------------------------------------------===//
// xf.cache_write
//===----------------------------------------------------------------------===//

// -----

func.func @cache_write_width(%c: tensor<1x8x16xf32>, %u: tensor<1x1x8xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.cache_write' op update must have shape [1, 1, 16], found [1, 1, 8]}}
  %0 = xf.cache_write %c, %u : (tensor<1x8x16xf32>, tensor<1x1x8xf32>) -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @cache_write_longer(%c: tensor<1x8x16xf32>, %u: tensor<1x9x16xf32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.cache_write' op update has 9 positions, more than the cache's 8}}
  %0 = xf.cache_write %c, %u : (tensor<1x8x16xf32>, tensor<1x9x16xf32>) -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @cache_write_position(%c: tensor<1x8x16xf32>, %u: tensor<1x1x16xf32>, %p: tensor<2xi32>) -> tensor<1x8x16xf32> {
  // expected-error @+1 {{'xf.cache_write' op position must have shape [1], found [2]}}
  %0 = xf.cache_write %c, %u, %p : (tensor<1x8x16xf32>, tensor<1x1x16xf32>, tensor<2xi32>) -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

func.func @cache_write_result(%c: tensor<1x8x16xf32>, %u: tensor<1x1x16xf32>) -> tensor<1x9x16xf32> {
  // expected-error @+1 {{'xf.cache_write' op result must have shape [1, 8, 16], found [1, 9, 16]}}
  %0 = xf.cache_write %c, %u : (tensor<1x8x16xf32>, tensor<1x1x16xf32>) -> tensor<1x9x16xf32>
  return %0 : tensor<1x9x16xf32>
}

// -----

func.func @cache_write_rank(%c: tensor<8x16xf32>, %u: tensor<1x1x16xf32>) -> tensor<8x16xf32> {
  // expected-error @+1 {{'xf.cache_write' op cache must have rank 3}}
  %0 = xf.cache_write %c, %u : (tensor<8x16xf32>, tensor<1x1x16xf32>) -> tensor<8x16xf32>
  return %0 : tensor<8x16xf32>
}
