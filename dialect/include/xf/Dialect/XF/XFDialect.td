//===- XFDialect.td - The xf dialect ------------------------*- tablegen -*-===//
//
// Part of xfc. The `xf` dialect: Transformer-level operations on tensors.
//
//===----------------------------------------------------------------------===//
#ifndef XF_DIALECT_XF_XFDIALECT_TD
#define XF_DIALECT_XF_XFDIALECT_TD

include "mlir/IR/OpBase.td"
include "mlir/IR/AttrTypeBase.td"
include "mlir/IR/EnumAttr.td"

def XF_Dialect : Dialect {
  let name = "xf";
  let cppNamespace = "::mlir::xf";
  let summary = "Transformer-level operations of the xfc compiler";
  let description = [{
    The `xf` dialect describes a Transformer model at the level its authors
    think of it: embeddings, positional encodings, layer norms, linears,
    multi-head attention, feed-forward blocks and residual adds, all on
    ranked f32 tensors with static shapes. Keeping attention and the
    feed-forward block as single ops lets passes rewrite them as a whole
    (fused attention kernels, sparse and linear attention, chunked
    feed-forward)
    before they are decomposed and lowered to `linalg`.

    Shape conventions: activations are `[batch, seq, features]`; a linear
    weight is `[out, in]` (PyTorch's layout) unless the op carries
    `transpose_weight`, in which case it is `[in, out]`; attention masks are
    implied by attributes (`causal`) and operands (`key_lengths`), never
    materialized as tensors at this level. The semantics of every op are
    those of docs/spec.md.
  }];
  let useDefaultAttributePrinterParser = 1;
}

class XF_Op<string mnemonic, list<Trait> traits = []>
    : Op<XF_Dialect, mnemonic, traits>;

//===----------------------------------------------------------------------===//
// Enums
//===----------------------------------------------------------------------===//

def XF_ActivationKind : I32EnumAttr<"ActivationKind",
    "element-wise activation function", [
      I32EnumAttrCase<"relu", 0>,
      I32EnumAttrCase<"gelu", 1>,       // Exact: 0.5 x (1 + erf(x / sqrt 2)).
      I32EnumAttrCase<"gelu_tanh", 2>   // The tanh approximation.
    ]> {
  let cppNamespace = "::mlir::xf";
  let genSpecializedAttr = 0;
}
def XF_ActivationAttr : EnumAttr<XF_Dialect, XF_ActivationKind, "activation">;

def XF_PositionalKind : I32EnumAttr<"PositionalKind",
    "kind of positional encoding", [
      I32EnumAttrCase<"sinusoidal", 0>,
      I32EnumAttrCase<"learned", 1>
    ]> {
  let cppNamespace = "::mlir::xf";
  let genSpecializedAttr = 0;
}
def XF_PositionalAttr : EnumAttr<XF_Dialect, XF_PositionalKind, "positional">;

def XF_PoolingKind : I32EnumAttr<"PoolingKind",
    "how a sentence embedding is taken from the hidden states", [
      I32EnumAttrCase<"mean", 0>, // Mean over the valid positions.
      I32EnumAttrCase<"cls", 1>   // The first position ([CLS]).
    ]> {
  let cppNamespace = "::mlir::xf";
  let genSpecializedAttr = 0;
}
def XF_PoolingAttr : EnumAttr<XF_Dialect, XF_PoolingKind, "pooling">;

//===----------------------------------------------------------------------===//
// Attributes
//===----------------------------------------------------------------------===//

def XF_AttentionPatternAttr : AttrDef<XF_Dialect, "AttentionPattern"> {
  let mnemonic = "pattern";
  let summary = "Which keys each query of an attention may see, per head group";
  let description = [{
    A static attention mask pattern in the text syntax of
    docs/attention-patterns.md, the one syntax the JSON spec
    (`attention_pattern`) and `xfc compile --attention` use too: head groups
    separated by `|` (G groups split the heads evenly), each a union of
    parts joined by `+`, e.g.

    ```mlir
    #xf.pattern<"sliding_window(w = 512) + global(positions = [0])">
    #xf.pattern<"strided_local(l = 128) | strided_summary(l = 128)">
    ```

    The verifier checks the syntax and every size-independent rule (an even
    window, a positive stride, ...); the op carrying the pattern checks the
    rules that depend on its sequence lengths and head count.
  }];
  let parameters = (ins StringRefParameter<"the pattern's text">:$text);
  let assemblyFormat = "`<` $text `>`";
  let genVerifyDecl = 1;
  let builders = [
    AttrBuilder<(ins "const ::mlir::xf::PatternGroups &":$groups), [{
      return $_get($_ctxt, ::mlir::xf::printPatternText(groups));
    }]>
  ];
  let extraClassDeclaration = [{
    /// The head groups of the pattern (the verifier guarantees the text
    /// parses).
    ::mlir::xf::PatternGroups getGroups() const;
  }];
}

#endif // XF_DIALECT_XF_XFDIALECT_TD
