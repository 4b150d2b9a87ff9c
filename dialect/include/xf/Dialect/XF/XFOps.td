//===- XFOps.td - Operations of the xf dialect --------------*- tablegen -*-===//
//
// Part of xfc. Model-level ops (embedding, positional_encoding,
// multi_head_attention, feed_forward) are what the frontend emits; the
// decomposition pass rewrites the last two into the finer ops (linear,
// attention, activation) that the lowering to linalg handles. Every op takes
// and returns ranked f32 tensors with static shapes; verifiers reject
// anything else with a message naming the operand and both shapes.
//
//===----------------------------------------------------------------------===//
#ifndef XF_DIALECT_XF_XFOPS_TD
#define XF_DIALECT_XF_XFOPS_TD

include "xf/Dialect/XF/XFDialect.td"
include "mlir/Interfaces/SideEffectInterfaces.td"
include "mlir/IR/CommonAttrConstraints.td"
include "mlir/IR/OpBase.td"
include "mlir/Interfaces/InferTypeOpInterface.td"

def XF_F32Tensor : RankedTensorOf<[F32]>;
def XF_I32Tensor : RankedTensorOf<[I32]>;

//===----------------------------------------------------------------------===//
// Embeddings and positions
//===----------------------------------------------------------------------===//

def XF_EmbeddingOp : XF_Op<"embedding", [Pure]> {
  let summary = "Looks up rows of an embedding table by integer ids";
  let description = [{
    `result[b, s, :] = table[ids[b, s], :] * scale`. Ids outside
    `[0, rows)` are clamped in generated code so it never reads out of
    bounds; the runtime rejects such inputs before running.

    Example:
    ```mlir
    %e = xf.embedding %ids, %table {scale = 1.0 : f64}
        : (tensor<2x7xi32>, tensor<64x128xf32>) -> tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_I32Tensor:$ids, XF_F32Tensor:$table,
                       DefaultValuedAttr<F64Attr, "1.0">:$scale);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $ids `,` $table attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def XF_PositionalEncodingOp : XF_Op<"positional_encoding",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "Adds positional encodings to a sequence of embeddings";
  let description = [{
    `result[b, s, :] = input[b, s, :] + P[p, :]` where `P` is the
    sinusoidal table `P[p, 2k] = sin(p / 10000^(2k/D))`,
    `P[p, 2k+1] = cos(p / 10000^(2k/D))` (computed in generated code, in
    f64) or, for `learned`, the rows `[0, seq)` of the `table` operand.
    The position `p` is `s`, or, with the `positions` operand (i32
    [B, S], sinusoidal only), `positions[b, s]`: a generation step's
    tokens sit at the positions the runtime passes, not at 0.

    Example:
    ```mlir
    %p = xf.positional_encoding learned %x, %table
        : (tensor<2x7x128xf32>, tensor<128x128xf32>) -> tensor<2x7x128xf32>
    %q = xf.positional_encoding sinusoidal %x
        : (tensor<2x7x128xf32>) -> tensor<2x7x128xf32>
    %r = xf.positional_encoding sinusoidal %y positions %pos
        : (tensor<2x1x128xf32>, tensor<2x1xi32>) -> tensor<2x1x128xf32>
    ```
  }];
  let arguments = (ins XF_PositionalAttr:$kind, XF_F32Tensor:$input,
                       Optional<XF_F32Tensor>:$table,
                       Optional<XF_I32Tensor>:$positions);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    `` $kind $input (`,` $table^)? (`positions` $positions^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Normalization and element-wise ops
//===----------------------------------------------------------------------===//

def XF_LayerNormOp : XF_Op<"layer_norm", [Pure]> {
  let summary = "Layer normalization over the last dimension";
  let description = [{
    `(x - mean) / sqrt(var + epsilon) * gamma + beta` with the biased
    variance, over the last dimension of `input`; `gamma` and `beta` have
    that dimension's size.

    With a `residual` operand the op normalizes `x = input + residual`
    (a residual connection followed by its norm, as fused by
    `xf-fuse-residual-layernorm`) and the sum is computed row by row while
    it is normalized, so the data is read once. The optional second result
    `sum` is that sum, for stacks that keep it as the residual stream
    (pre-LN); it exists only with a `residual` operand.

    Example:
    ```mlir
    %n = xf.layer_norm %x, %gamma, %beta {epsilon = 1.0e-05 : f64}
        : (tensor<2x7x128xf32>, tensor<128xf32>, tensor<128xf32>)
        -> tensor<2x7x128xf32>
    %m, %s = xf.layer_norm %x, %gamma, %beta residual(%r)
        {epsilon = 1.0e-05 : f64}
        : (tensor<2x7x128xf32>, tensor<128xf32>, tensor<128xf32>,
           tensor<2x7x128xf32>) -> (tensor<2x7x128xf32>, tensor<2x7x128xf32>)
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input, XF_F32Tensor:$gamma,
                       XF_F32Tensor:$beta, Optional<XF_F32Tensor>:$residual,
                       F64Attr:$epsilon);
  let results = (outs XF_F32Tensor:$result, Optional<XF_F32Tensor>:$sum);
  let assemblyFormat = [{
    $input `,` $gamma `,` $beta (`residual` `(` $residual^ `)`)? attr-dict `:`
    functional-type(operands, results)
  }];
  // The unfused form, as before the residual operand existed.
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$gamma, "::mlir::Value":$beta,
                   "::mlir::FloatAttr":$epsilon), [{
      build($_builder, $_state, result, /*sum=*/::mlir::Type(), input, gamma,
            beta, /*residual=*/::mlir::Value(), epsilon);
    }]>
  ];
  let hasVerifier = 1;
}

def XF_AddOp : XF_Op<"add", [Pure, Commutative, SameOperandsAndResultType]> {
  let summary = "Element-wise addition (residual connections)";
  let description = [{
    Example:
    ```mlir
    %r = xf.add %x, %y : tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$lhs, XF_F32Tensor:$rhs);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = "$lhs `,` $rhs attr-dict `:` type($result)";
}

def XF_ActivationOp : XF_Op<"activation",
    [Pure, SameOperandsAndResultType]> {
  let summary = "Element-wise activation function";
  let description = [{
    `relu`: `max(x, 0)`; `gelu`: `0.5 x (1 + erf(x / sqrt 2))`;
    `gelu_tanh`: `0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))`.

    Example:
    ```mlir
    %a = xf.activation gelu %x : tensor<2x7x512xf32>
    ```
  }];
  let arguments = (ins XF_ActivationAttr:$kind, XF_F32Tensor:$input);
  let results = (outs XF_F32Tensor:$result);
  // The enum attribute prints its own leading space, hence the empty literal.
  let assemblyFormat = "`` $kind $input attr-dict `:` type($result)";
}

def XF_SoftmaxOp : XF_Op<"softmax", [Pure, SameOperandsAndResultType]> {
  let summary = "Softmax over the last dimension";
  let description = [{
    Numerically stable: `exp(x - max) / sum(exp(x - max))` per row.

    Example:
    ```mlir
    %p = xf.softmax %x : tensor<2x7x64xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linear layers
//===----------------------------------------------------------------------===//

def XF_LinearOp : XF_Op<"linear", [Pure, AttrSizedOperandSegments]> {
  let summary = "Affine map of the last dimension: x W^T + b";
  let description = [{
    `result[..., n] = sum_k input[..., k] * W[n, k] + bias[n]` with `W` of
    shape `[N, K]`. With `transpose_weight`, the weight is stored `[K, N]`
    (`result = x W + b`); the weight layout pass chooses it for weights
    that are function arguments and records the change so the compiler
    stores the weight transposed. With `weight_panel = p` the weight is
    stored in column panels `[N/p, K, p]` (`W_packed[j, k, i] = W[j p + i,
    k]`): the register tile of the CPU matmul reads one panel front to back,
    `p` contiguous floats per `k`.

    The epilogue form (made by `xf-fuse-epilogue`) applies an `activation`
    to the affine result and then adds a `residual` of the result's shape,
    both in the GEMM's output loop:
    `result = act(x W^T + b) + residual`. Either may be absent.

    Example:
    ```mlir
    %y = xf.linear %x, %w, %b
        : (tensor<2x7x128xf32>, tensor<512x128xf32>, tensor<512xf32>)
        -> tensor<2x7x512xf32>
    %z = xf.linear %h, %w2, %b2 residual(%x) {activation = #xf<activation gelu>}
        : (tensor<2x7x512xf32>, tensor<128x512xf32>, tensor<128xf32>,
           tensor<2x7x128xf32>) -> tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input, XF_F32Tensor:$weight,
                       Optional<XF_F32Tensor>:$bias,
                       Optional<XF_F32Tensor>:$residual,
                       UnitAttr:$transpose_weight,
                       OptionalAttr<XF_ActivationAttr>:$activation,
                       OptionalAttr<ConfinedAttr<I64Attr, [IntPositive]>>:
                           $weight_panel);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $weight (`,` $bias^)? (`residual` `(` $residual^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  // The plain form (no epilogue), as before the epilogue existed.
  let builders = [
    OpBuilder<(ins "::mlir::Type":$result, "::mlir::Value":$input,
                   "::mlir::Value":$weight, "::mlir::Value":$bias,
                   "bool":$transpose_weight), [{
      build($_builder, $_state, result, input, weight, bias,
            /*residual=*/::mlir::Value(), transpose_weight,
            /*activation=*/nullptr, /*weight_panel=*/nullptr);
    }]>
  ];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// Input features (K) and output features (N) of the weight, whatever
    /// its layout.
    int64_t getInFeatures();
    int64_t getOutFeatures();
  }];
}

def XF_SplitOp : XF_Op<"split", [Pure]> {
  let summary = "Splits the last dimension into consecutive pieces";
  let description = [{
    Result `i` holds the columns `[o_i, o_i + n_i)` of the last dimension
    of `input`, where `n_i` is result `i`'s last dimension and `o_i` the
    sum of the earlier ones; the other dimensions are those of `input` and
    the pieces cover it exactly. `xf-fuse-qkv` uses it to split a fused
    projection back into Q, K and V.

    Example:
    ```mlir
    %q, %k, %v = xf.split %qkv
        : tensor<2x7x384xf32> -> tensor<2x7x128xf32>, tensor<2x7x128xf32>,
          tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input);
  let results = (outs Variadic<XF_F32Tensor>:$results);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($results)";
  let hasVerifier = 1;
}

def XF_FeedForwardOp : XF_Op<"feed_forward",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "Position-wise feed-forward block: fc2(act(fc1(x)))";
  let description = [{
    Two linears with an activation between them; weights in `[out, in]`
    layout: `fc1_weight` is `[d_ff, D]`, `fc2_weight` `[D, d_ff]`. Biases
    are optional and independent.

    Example:
    ```mlir
    %f = xf.feed_forward gelu %x, fc1(%w1, %b1), fc2(%w2, %b2)
        : (tensor<2x7x128xf32>, tensor<512x128xf32>, tensor<512xf32>,
           tensor<128x512xf32>, tensor<128xf32>) -> tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_ActivationAttr:$activation, XF_F32Tensor:$input,
                       XF_F32Tensor:$fc1_weight,
                       Optional<XF_F32Tensor>:$fc1_bias,
                       XF_F32Tensor:$fc2_weight,
                       Optional<XF_F32Tensor>:$fc2_bias);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    `` $activation $input `,` `fc1` `(` $fc1_weight (`,` $fc1_bias^)? `)` `,`
    `fc2` `(` $fc2_weight (`,` $fc2_bias^)? `)` attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Attention
//===----------------------------------------------------------------------===//

def XF_MultiHeadAttentionOp : XF_Op<"multi_head_attention",
    [Pure, AttrSizedOperandSegments]> {
  let summary = "Multi-head attention with its projections, as one op";
  let description = [{
    Self-attention when `query` and `key_value` are the same value,
    cross-attention otherwise:
    `Q = query Wq^T + bq`, `K = key_value Wk^T + bk`,
    `V = key_value Wv^T + bv`; per head `t` (columns `[t Dh, (t+1) Dh)`,
    `Dh = D / num_heads`): `softmax(Q_t K_t^T * scale + M) V_t`; heads
    concatenated and projected by `Wo`, `bo`. `scale` defaults to
    `1 / sqrt(Dh)`. The mask `M` is -inf where a key is not allowed:
    `causal` forbids keys after the query (`j > i`), `key_lengths[b]`
    forbids keys `j >= key_lengths[b]`, and a `pattern`
    (`#xf.pattern`, docs/attention-patterns.md) replaces `causal` by any
    static mask pattern, per head group. A query with no allowed key yields
    0 before the output projection.

    Example:
    ```mlir
    %a = xf.multi_head_attention %x, %x, q(%wq, %bq), k(%wk, %bk),
        v(%wv, %bv), out(%wo, %bo) key_lengths(%len)
        {num_heads = 2 : i64, causal}
        : (tensor<2x7x128xf32>, tensor<2x7x128xf32>, tensor<128x128xf32>,
           tensor<128xf32>, tensor<128x128xf32>, tensor<128xf32>,
           tensor<128x128xf32>, tensor<128xf32>, tensor<128x128xf32>,
           tensor<128xf32>, tensor<2xi32>) -> tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$query, XF_F32Tensor:$key_value,
                       XF_F32Tensor:$q_weight, Optional<XF_F32Tensor>:$q_bias,
                       XF_F32Tensor:$k_weight, Optional<XF_F32Tensor>:$k_bias,
                       XF_F32Tensor:$v_weight, Optional<XF_F32Tensor>:$v_bias,
                       XF_F32Tensor:$out_weight,
                       Optional<XF_F32Tensor>:$out_bias,
                       Optional<XF_I32Tensor>:$key_lengths,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       UnitAttr:$causal, OptionalAttr<F64Attr>:$scale,
                       OptionalAttr<XF_AttentionPatternAttr>:$pattern);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $query `,` $key_value `,`
    `q` `(` $q_weight (`,` $q_bias^)? `)` `,`
    `k` `(` $k_weight (`,` $k_bias^)? `)` `,`
    `v` `(` $v_weight (`,` $v_bias^)? `)` `,`
    `out` `(` $out_weight (`,` $out_bias^)? `)`
    (`key_lengths` `(` $key_lengths^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
  let extraClassDeclaration = [{
    /// The scale applied to Q K^T: the attribute, or 1/sqrt(head_dim).
    double getEffectiveScale();
  }];
}

def XF_AttentionOp : XF_Op<"attention", [Pure]> {
  let summary = "Scaled dot-product attention over heads of projected Q, K, V";
  let description = [{
    The core of multi-head attention, after the projections: `query` is
    `[B, Sq, H*Dh]`, `key` `[B, Sk, H*Dh]`, `value` `[B, Sk, H*Dv]`; per
    head `t`, `softmax(Q_t K_t^T * scale + M) V_t`, heads concatenated in
    order into `[B, Sq, H*Dv]`. Masks (`causal`, `key_lengths`, `pattern`)
    as in `xf.multi_head_attention`; a query with no allowed key yields 0. This is the op that fused and
    sparse attention kernels replace.

    Example:
    ```mlir
    %o = xf.attention %q, %k, %v {num_heads = 2 : i64, scale = 0.125 : f64}
        : (tensor<2x7x128xf32>, tensor<2x7x128xf32>, tensor<2x7x128xf32>)
        -> tensor<2x7x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$query, XF_F32Tensor:$key,
                       XF_F32Tensor:$value,
                       Optional<XF_I32Tensor>:$key_lengths,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       F64Attr:$scale, UnitAttr:$causal,
                       OptionalAttr<XF_AttentionPatternAttr>:$pattern);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value (`key_lengths` `(` $key_lengths^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Sentence embeddings
//===----------------------------------------------------------------------===//

def XF_SentencePoolOp : XF_Op<"sentence_pool", [Pure]> {
  let summary = "Pools [B, S, D] hidden states into one [B, D] vector per item";
  let description = [{
    `mean`: `result[b, :] = sum_{j < n_b} input[b, j, :] / max(n_b, 1)` with
    `n_b = lengths[b]` (clamped to `[0, S]`), or `n_b = S` without a
    `lengths` operand; an empty item gives zeros, as sentence-transformers'
    clamped division does. `cls`: `result[b, :] = input[b, 0, :]`.

    With `normalize`, the pooled vector is then divided by
    `max(||v||_2, epsilon)` (torch.nn.functional.normalize), so a zero
    vector stays zero.

    Example:
    ```mlir
    %e = xf.sentence_pool mean %h, %lengths {normalize = true,
                                             epsilon = 1.0e-12 : f64}
        : (tensor<2x7x384xf32>, tensor<2xi32>) -> tensor<2x384xf32>
    ```
  }];
  let arguments = (ins XF_PoolingAttr:$mode, XF_F32Tensor:$input,
                       Optional<XF_I32Tensor>:$lengths,
                       DefaultValuedAttr<BoolAttr, "false">:$normalize,
                       DefaultValuedAttr<F64Attr, "1.0e-12">:$epsilon);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    `` $mode $input (`,` $lengths^)? attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Segment recurrence (Transformer-XL)
//===----------------------------------------------------------------------===//

def XF_SequenceConcatOp : XF_Op<"sequence_concat", [Pure]> {
  let summary = "Concatenates two [B, S, D] tensors along the sequence";
  let description = [{
    `result[b, j, :] = first[b, j, :]` for `j < S1` and
    `second[b, j - S1, :]` otherwise: `[first ; second]` along dimension 1.
    Transformer-XL puts a layer's memory (the previous segment's hidden
    states) before the current segment this way, for keys and values.

    Example:
    ```mlir
    %kv = xf.sequence_concat %memory, %x
        : (tensor<1x8x64xf32>, tensor<1x7x64xf32>) -> tensor<1x15x64xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$first, XF_F32Tensor:$second);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $first `,` $second attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def XF_SequenceSliceOp : XF_Op<"sequence_slice", [Pure]> {
  let summary = "Takes consecutive positions of a [B, S, D] tensor";
  let description = [{
    `result[b, j, :] = input[b, offset + j, :]` for `j` below the result's
    length; the slice must lie inside the input. Transformer-XL keeps the
    last M positions of `[memory ; input]` as the next segment's memory.

    Example:
    ```mlir
    %next = xf.sequence_slice %kv {offset = 7 : i64}
        : tensor<1x15x64xf32> -> tensor<1x8x64xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input,
                       ConfinedAttr<I64Attr, [IntNonNegative]>:$offset);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = "$input attr-dict `:` type($input) `->` type($result)";
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Key/value cache (generation, docs/generation.md)
//===----------------------------------------------------------------------===//

def XF_CacheWriteOp : XF_Op<"cache_write", [Pure]> {
  let summary = "Writes [B, T, D] rows into a [B, C, D] cache at a position";
  let description = [{
    `result = cache` except `result[b, p + t, :] = update[b, t, :]` for
    `t < T`, where `p` is `position[0]` (0 without a `position` operand),
    clamped to `[0, C - T]` so that the write never leaves the cache (the
    runtime refuses positions that would need the clamp). The result is the
    cache after the write: it lowers to `tensor.insert_slice`, which
    bufferizes in place, so a cache that is a writable function argument is
    updated in the caller's buffer with T rows of traffic, whatever C is.
    Prefill writes the prompt's keys and values at row 0, a decode step
    the new token's at its position.

    Example:
    ```mlir
    %k2 = xf.cache_write %cache, %k, %position
        : (tensor<1x64x128xf32>, tensor<1x1x128xf32>, tensor<1xi32>)
        -> tensor<1x64x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$cache, XF_F32Tensor:$update,
                       Optional<XF_I32Tensor>:$position);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $cache `,` $update (`,` $position^)? attr-dict `:`
    functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

def XF_RelativeAttentionOp : XF_Op<"relative_attention", [Pure]> {
  let summary = "Transformer-XL attention with relative positions and memory";
  let description = [{
    The core of Transformer-XL's attention (arXiv 1901.02860, Sec. 3.3),
    after the projections. `query` is `[B, Sq, H*Dh]` (the current
    segment), `key` `[B, Sk, H*Dh]` and `value` `[B, Sk, H*Dv]` (the
    extended context `[memory ; segment]`, so the first `Mk = Sk - Sq`
    keys are memory). Per head `t`:

    `A_ij = scale * ((q_i + u_t) . k_j + (q_i + v_t) . P_t[Sq - 1 - i + j])`

    where `P = R W_kR^T` (`position_weight` is `W_kR`, `[H*Dh, Dp]`) and
    row `p` of `R` (`[Sk, Dp]`) is the sinusoidal encoding `[sin | cos]`
    of the distance `Sk - 1 - p` (`inv_freq_k = 10000^(-2k/Dp)`), as in
    the authors' code; `P_t[Sq - 1 - i + j]` encodes the distance
    `Mk + i - j` between query `i` (extended position `Mk + i`) and key
    `j`: the "relative shift". `u` (`content_bias`) and `v`
    (`position_bias`) are `[H, Dh]`. Masks: causal over the extended
    context (`j <= Mk + i`) and, with `memory_lengths`, only the last
    `memory_lengths[b]` memory positions are valid (`j >= Mk -
    memory_lengths[b]`): memory that is not filled yet sits, masked, at
    the front. `softmax(A) V_t`, heads concatenated in order.

    Example:
    ```mlir
    %o = xf.relative_attention %q, %k, %v, position(%wr), u(%u), v(%v_bias)
        memory_lengths(%m) {num_heads = 4 : i64, scale = 0.25 : f64}
        : (tensor<1x7x64xf32>, tensor<1x15x64xf32>, tensor<1x15x64xf32>,
           tensor<64x64xf32>, tensor<4x16xf32>, tensor<4x16xf32>,
           tensor<1xi32>) -> tensor<1x7x64xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$query, XF_F32Tensor:$key,
                       XF_F32Tensor:$value, XF_F32Tensor:$position_weight,
                       XF_F32Tensor:$content_bias,
                       XF_F32Tensor:$position_bias,
                       Optional<XF_I32Tensor>:$memory_lengths,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       F64Attr:$scale);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $query `,` $key `,` $value `,` `position` `(` $position_weight `)` `,`
    `u` `(` $content_bias `)` `,` `v` `(` $position_bias `)`
    (`memory_lengths` `(` $memory_lengths^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

//===----------------------------------------------------------------------===//
// Linformer
//===----------------------------------------------------------------------===//

def XF_LinformerProjectionOp : XF_Op<"linformer_projection", [Pure]> {
  let summary = "Projects keys or values along the sequence (Linformer's E K)";
  let description = [{
    Linformer (arXiv 2006.04768) replaces the `n` keys and values of
    attention by `k` projections of them along the sequence, `K' = E K` and
    `V' = F V`, with `E`, `F` learned `k x n` matrices for the compiled `n`;
    ordinary attention then runs over the `k` projected rows
    (docs/attention-patterns.md, "Linformer"). `input` is `[B, n, H*D]`
    (keys or values, heads side by side), `projection` is `[k, n]` (one
    matrix for every head) or `[H, k, n]` (one per head); per head `t`
    (columns `[t D, (t+1) D)`):
    `result[b, r, t D + e] = sum_{j < n} P_t[r, j] * input[b, j, t D + e]`
    where rows `j >= key_lengths[b]` of the input (padding) count as 0, as
    if zeroed before the projection. The result is `[B, k, H*D]`; it has no
    padding left, so the attention that reads it takes no `key_lengths`.
    `pattern`, when present, is the Linformer pattern the projection
    implements, for reports.

    Example:
    ```mlir
    %kp = xf.linformer_projection %k, %e key_lengths(%len)
        {num_heads = 2 : i64}
        : (tensor<2x7x128xf32>, tensor<4x7xf32>, tensor<2xi32>)
        -> tensor<2x4x128xf32>
    ```
  }];
  let arguments = (ins XF_F32Tensor:$input, XF_F32Tensor:$projection,
                       Optional<XF_I32Tensor>:$key_lengths,
                       ConfinedAttr<I64Attr, [IntPositive]>:$num_heads,
                       OptionalAttr<XF_AttentionPatternAttr>:$pattern);
  let results = (outs XF_F32Tensor:$result);
  let assemblyFormat = [{
    $input `,` $projection (`key_lengths` `(` $key_lengths^ `)`)?
    attr-dict `:` functional-type(operands, results)
  }];
  let hasVerifier = 1;
}

#endif // XF_DIALECT_XF_XFOPS_TD
