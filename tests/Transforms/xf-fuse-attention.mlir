// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-fuse-attention)' | FileCheck %s
// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-fuse-attention{block-q=16 block-k=32})' | FileCheck %s --check-prefix=SMALL
// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-fuse-attention{block-table})' | FileCheck %s --check-prefix=TABLE
// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-fuse-attention{block-q=0})' -verify-diagnostics -o /dev/null
// RUN: xfc-opt %s -split-input-file -pass-pipeline='builtin.module(xf-fuse-attention{gather=false})' | FileCheck %s --check-prefix=NOGATHER

// Dense self-attention over 128 tokens with the default 32 x 64 tiles:
// 4 query blocks x 2 key blocks, all visited, none masked.

// CHECK-LABEL: func.func @dense
// CHECK: xf.attention %{{.*}}, %{{.*}}, %{{.*}} {num_heads = 2 : i64, scale = 1.250000e-01 : f64, xf.attention_kernel = {allowed_pairs = 16384 : i64, block_k = 64 : i64, block_q = 32 : i64, kind = "flash", masked_blocks = 0 : i64, pattern = "dense", visited_blocks = 8 : i64}}
// SMALL-LABEL: func.func @dense
// SMALL: xf.attention_kernel = {allowed_pairs = 16384 : i64, block_k = 32 : i64, block_q = 16 : i64, kind = "flash", masked_blocks = 0 : i64, pattern = "dense", visited_blocks = 32 : i64}
// TABLE-LABEL: func.func @dense
// TABLE: xf.attention_kernel = {allowed_pairs = 16384 : i64, block_k = 64 : i64, block_q = 32 : i64, driver = "table", kind = "flash"
func.func @dense(%q: tensor<1x128x128xf32>) -> tensor<1x128x128xf32> {
  // expected-error @below {{xf-fuse-attention: block sizes must be positive, found block-q=0 block-k=64}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f64}
      : (tensor<1x128x128xf32>, tensor<1x128x128xf32>, tensor<1x128x128xf32>)
      -> tensor<1x128x128xf32>
  return %0 : tensor<1x128x128xf32>
}

// -----

// Causal over 128 tokens: blocks above the diagonal are skipped (6 of 8
// visited: key block 1 only from query blocks 2 and 3), and the blocks the
// diagonal crosses are masked (query blocks 0, 1 on key block 0; 2, 3 on
// key block 1).

// CHECK-LABEL: func.func @causal
// CHECK: xf.attention {{.*}}xf.attention_kernel = {allowed_pairs = 8256 : i64, block_k = 64 : i64, block_q = 32 : i64, kind = "flash", masked_blocks = 4 : i64, pattern = "causal", visited_blocks = 6 : i64}
// SMALL-LABEL: func.func @causal
// SMALL: pattern = "causal", visited_blocks = 20 : i64
func.func @causal(%q: tensor<1x128x128xf32>, %len: tensor<1xi32>)
    -> tensor<1x128x128xf32> {
  // expected-error @below {{block sizes must be positive}}
  %0 = xf.attention %q, %q, %q key_lengths(%len)
      {num_heads = 2 : i64, scale = 0.125 : f64, causal}
      : (tensor<1x128x128xf32>, tensor<1x128x128xf32>, tensor<1x128x128xf32>,
         tensor<1xi32>) -> tensor<1x128x128xf32>
  return %0 : tensor<1x128x128xf32>
}

// -----

// Short sequences get one exact tile (7 x 5), not a padded 32 x 64 one;
// 77 keys in blocks of 64 leave a partial tail block.

// CHECK-LABEL: func.func @clamped
// CHECK: xf.attention_kernel = {allowed_pairs = 35 : i64, block_k = 5 : i64, block_q = 7 : i64, kind = "flash", masked_blocks = 0 : i64, pattern = "dense", visited_blocks = 1 : i64}
// CHECK: xf.attention_kernel = {allowed_pairs = 539 : i64, block_k = 64 : i64, block_q = 7 : i64, kind = "flash", masked_blocks = 1 : i64, pattern = "dense", visited_blocks = 2 : i64}
func.func @clamped(%q: tensor<2x7x16xf32>, %k: tensor<2x5x16xf32>,
                   %k2: tensor<2x77x16xf32>)
    -> (tensor<2x7x16xf32>, tensor<2x7x16xf32>) {
  // expected-error @below {{block sizes must be positive}}
  %0 = xf.attention %q, %k, %k {num_heads = 2 : i64, scale = 0.5 : f64}
      : (tensor<2x7x16xf32>, tensor<2x5x16xf32>, tensor<2x5x16xf32>)
      -> tensor<2x7x16xf32>
  %1 = xf.attention %q, %k2, %k2 {num_heads = 2 : i64, scale = 0.5 : f64}
      : (tensor<2x7x16xf32>, tensor<2x77x16xf32>, tensor<2x77x16xf32>)
      -> tensor<2x7x16xf32>
  return %0, %1 : tensor<2x7x16xf32>, tensor<2x7x16xf32>
}

// -----

// A kernel chosen before the pass is kept as it is.

// CHECK-LABEL: func.func @chosen
// CHECK: xf.attention_kernel = {block_k = 2 : i64, block_q = 3 : i64, kind = "flash"}}
func.func @chosen(%q: tensor<1x8x16xf32>) -> tensor<1x8x16xf32> {
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.5 : f64,
      xf.attention_kernel = {kind = "flash", block_q = 3 : i64, block_k = 2 : i64}}
      : (tensor<1x8x16xf32>, tensor<1x8x16xf32>, tensor<1x8x16xf32>)
      -> tensor<1x8x16xf32>
  return %0 : tensor<1x8x16xf32>
}

// -----

// Empty sequences have no tiles: left to the unfused lowering.

// CHECK-LABEL: func.func @empty
// CHECK-NOT: xf.attention_kernel
func.func @empty(%q: tensor<1x0x8xf32>, %k: tensor<1x4x8xf32>)
    -> tensor<1x0x8xf32> {
  %0 = xf.attention %q, %k, %k {num_heads = 1 : i64, scale = 1.0 : f64}
      : (tensor<1x0x8xf32>, tensor<1x4x8xf32>, tensor<1x4x8xf32>)
      -> tensor<1x0x8xf32>
  return %0 : tensor<1x0x8xf32>
}

// -----

// A pattern's statistics are the mean over its head groups. A sliding
// window of width 8 over 128 tokens allows 128 * 9 - 2 * (4 + 3 + 2 + 1) =
// 1132 pairs; in 32 x 64 tiles query block 0 touches key block 0, blocks
// 1 and 2 touch both key blocks, block 3 only key block 1: 6 visited, all
// partial. With a dense group beside it: (6 + 8) / 2 visited, (6 + 0) / 2
// masked, (1132 + 16384) / 2 pairs.

// CHECK-LABEL: func.func @pattern
// CHECK: xf.attention_kernel = {allowed_pairs = 1132 : i64, block_k = 64 : i64, block_q = 32 : i64, kind = "flash", masked_blocks = 6 : i64, pattern = "sliding_window(w = 8)", visited_blocks = 6 : i64}
// CHECK: xf.attention_kernel = {allowed_pairs = 8758 : i64, block_k = 64 : i64, block_q = 32 : i64, kind = "flash", masked_blocks = 3 : i64, pattern = "sliding_window(w = 8) | dense", visited_blocks = 7 : i64}
func.func @pattern(%q: tensor<1x128x128xf32>)
    -> (tensor<1x128x128xf32>, tensor<1x128x128xf32>) {
  // expected-error @below {{block sizes must be positive}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f64,
      pattern = #xf.pattern<"sliding_window(w = 8)">}
      : (tensor<1x128x128xf32>, tensor<1x128x128xf32>, tensor<1x128x128xf32>)
      -> tensor<1x128x128xf32>
  %1 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.125 : f64,
      pattern = #xf.pattern<"sliding_window(w = 8) | dense">}
      : (tensor<1x128x128xf32>, tensor<1x128x128xf32>, tensor<1x128x128xf32>)
      -> tensor<1x128x128xf32>
  return %0, %1 : tensor<1x128x128xf32>, tensor<1x128x128xf32>
}

// -----

// Parts that are sparse inside every tile are gathered per residue class
// where that executes fewer pairs. A dilated window (w = 32, d = 4) over
// 256 tokens: each of the 4 classes is a 64-position sliding window of
// width 32, 2 x 1 tiles of 32 x 64 per class, 8 in all (16384 pairs);
// directly, 20 tiles hold allowed keys, one in four (40960 pairs). The
// strided union gathers A2 (16 classes of 16: one 16 x 16 tile each) with
// A1 computed directly; the sliding-window group beside it is not
// gathered. A window of width 8 and d = 2 spans only a tile or two: there
// gathering would not save a quarter of the pairs, so it is not chosen.

// CHECK-LABEL: func.func @gathered
// CHECK: xf.attention_kernel = {allowed_pairs = 7360 : i64, block_k = 64 : i64, block_q = 32 : i64, executed_pairs = 16384 : i64, gather = ["residue(classes = 4)"], gathered_blocks = 8 : i64, kind = "flash", masked_blocks = 8 : i64, pattern = "dilated_sliding_window(w = 32, d = 4)", visited_blocks = 8 : i64}
// CHECK: gather = ["residue(classes = 16)", "none"], gathered_blocks = 8 : i64
// CHECK-NOT: gather =
// NOGATHER-LABEL: func.func @gathered
// NOGATHER-NOT: gather =
// NOGATHER: masked_blocks = 20 : i64, pattern = "dilated_sliding_window(w = 32, d = 4)", visited_blocks = 20 : i64}
func.func @gathered(%q: tensor<1x256x32xf32>)
    -> (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>) {
  // expected-error @below {{block sizes must be positive}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"dilated_sliding_window(w = 32, d = 4)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  %1 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"strided_local(l = 16) + strided_summary(l = 16) | sliding_window(w = 8)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  %2 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"dilated_sliding_window(w = 8, d = 2)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  return %0, %1, %2
      : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>
}

// -----

// The fixed pattern's summary set A2 is gathered by key: its summary keys
// (c of every l) are compacted, the queries stay contiguous. A1 + A2 with
// l = 16, c = 2 over 256 tokens: 32 summary keys, one 32 x 32 tile per
// query block (8, 8192 pairs), plus A1's 8 diagonal 32 x 64 tiles (16384);
// directly, every causal tile holds a summary key (20 tiles, 40960 pairs).
// A2 alone with l = 128, c = 16 gathers into 5 tiles of 32 x 32 (the mean
// with the direct group beside it: 3 gathered tiles, 10752 pairs). With
// c = 64 and l - c = 64 multiples of the 64-key tile, every direct tile is
// full or empty and the compact map visits as many: not gathered.

// CHECK-LABEL: func.func @fixed_summary_keys
// CHECK: executed_pairs = 24576 : i64, gather = ["summary_keys(l = 16, c = 2)"], gathered_blocks = 8 : i64, kind = "flash", masked_blocks = 16 : i64, pattern = "fixed_local(l = 16) + fixed_summary(l = 16, c = 2)", visited_blocks = 16 : i64}
// CHECK: executed_pairs = 10752 : i64, gather = ["summary_keys(l = 128, c = 16)", "none"], gathered_blocks = 3 : i64
// CHECK-NOT: gather =
// NOGATHER-LABEL: func.func @fixed_summary_keys
// NOGATHER-NOT: gather =
// NOGATHER: masked_blocks = 20 : i64, pattern = "fixed_local(l = 16) + fixed_summary(l = 16, c = 2)", visited_blocks = 20 : i64}
func.func @fixed_summary_keys(%q: tensor<1x256x32xf32>)
    -> (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>) {
  // expected-error @below {{block sizes must be positive}}
  %0 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"fixed_local(l = 16) + fixed_summary(l = 16, c = 2)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  %1 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"fixed_summary(l = 128, c = 16) | fixed_summary(l = 128, c = 64)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  %2 = xf.attention %q, %q, %q {num_heads = 2 : i64, scale = 0.25 : f64,
      pattern = #xf.pattern<"fixed_summary(l = 128, c = 64)">}
      : (tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>)
      -> tensor<1x256x32xf32>
  return %0, %1, %2
      : tensor<1x256x32xf32>, tensor<1x256x32xf32>, tensor<1x256x32xf32>
}
