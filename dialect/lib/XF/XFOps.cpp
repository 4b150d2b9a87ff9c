//===- XFOps.cpp - Operations of the xf dialect -----------------*- C++ -*-===//
//
// Part of xfc. Verifiers and helpers of the `xf` ops. Every verifier message
// names the operand, what its shape should be and what it is, so a user who
// wrote or generated bad IR can fix it without reading this file.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/OpImplementation.h"
#include "llvm/ADT/STLExtras.h"

#include <cmath>

using namespace mlir;
using namespace mlir::xf;

#define GET_OP_CLASSES
#include "xf/Dialect/XF/XFOps.cpp.inc"

//===----------------------------------------------------------------------===//
// Shared checks
//===----------------------------------------------------------------------===//

/// Formats a shape as `[2, 7, 128]` for diagnostics.
static std::string formatShape(ArrayRef<int64_t> shape) {
  std::string out = "[";
  llvm::raw_string_ostream os(out);
  llvm::interleaveComma(shape, os, [&](int64_t d) {
    if (ShapedType::isDynamic(d))
      os << "?";
    else
      os << d;
  });
  os << "]";
  return out;
}

static ArrayRef<int64_t> shapeOf(Value v) {
  return cast<RankedTensorType>(v.getType()).getShape();
}

/// Static shapes are a requirement of the whole pipeline (static memory
/// planning, bare-pointer calling convention), so every op checks them.
static LogicalResult verifyStaticShapes(Operation *op) {
  for (Type t :
       llvm::concat<Type>(op->getOperandTypes(), op->getResultTypes())) {
    auto tensor = cast<RankedTensorType>(t);
    if (!tensor.hasStaticShape())
      return op->emitOpError("requires static shapes, found ") << tensor;
  }
  return success();
}

/// Checks that `value` (described as `what`) has exactly `expected`.
static LogicalResult expectShape(Operation *op, StringRef what, Value value,
                                 ArrayRef<int64_t> expected) {
  ArrayRef<int64_t> actual = shapeOf(value);
  if (actual != expected)
    return op->emitOpError()
           << what << " must have shape " << formatShape(expected) << ", found "
           << formatShape(actual);
  return success();
}

static LogicalResult expectRank(Operation *op, StringRef what, Value value,
                                int64_t rank) {
  int64_t actual = shapeOf(value).size();
  if (actual != rank)
    return op->emitOpError()
           << what << " must have rank " << rank << ", found rank " << actual
           << " (" << formatShape(shapeOf(value)) << ")";
  return success();
}

//===----------------------------------------------------------------------===//
// EmbeddingOp
//===----------------------------------------------------------------------===//

LogicalResult EmbeddingOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "ids", getIds(), 2)) ||
      failed(expectRank(*this, "table", getTable(), 2)))
    return failure();
  ArrayRef<int64_t> ids = shapeOf(getIds());
  ArrayRef<int64_t> table = shapeOf(getTable());
  if (table[0] < 1)
    return emitOpError("table must have at least one row");
  if (!std::isfinite(getScale().convertToDouble()))
    return emitOpError("scale must be finite");
  return expectShape(*this, "result", getResult(), {ids[0], ids[1], table[1]});
}

//===----------------------------------------------------------------------===//
// PositionalEncodingOp
//===----------------------------------------------------------------------===//

LogicalResult PositionalEncodingOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "input", getInput(), 3)) ||
      failed(expectShape(*this, "result", getResult(), shapeOf(getInput()))))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (getKind() == PositionalKind::sinusoidal) {
    if (getTable())
      return emitOpError("sinusoidal encoding takes no table operand");
    if (Value positions = getPositions())
      return expectShape(*this, "positions", positions, {input[0], input[1]});
    return success();
  }
  if (getPositions())
    return emitOpError("learned encoding takes no positions operand (look "
                       "the rows up with xf.embedding)");
  if (!getTable())
    return emitOpError("learned encoding requires a table operand");
  if (failed(expectRank(*this, "table", getTable(), 2)))
    return failure();
  ArrayRef<int64_t> table = shapeOf(getTable());
  if (table[1] != input[2])
    return emitOpError() << "table width " << table[1]
                         << " must equal the input's feature size " << input[2];
  if (table[0] < input[1])
    return emitOpError() << "table has " << table[0]
                         << " positions, fewer than the sequence length "
                         << input[1];
  return success();
}

//===----------------------------------------------------------------------===//
// LayerNormOp
//===----------------------------------------------------------------------===//

LogicalResult LayerNormOp::verify() {
  if (failed(verifyStaticShapes(*this)))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (input.empty())
    return emitOpError("input must have rank >= 1");
  int64_t width = input.back();
  if (failed(expectShape(*this, "gamma", getGamma(), {width})) ||
      failed(expectShape(*this, "beta", getBeta(), {width})) ||
      failed(expectShape(*this, "result", getResult(), input)))
    return failure();
  if (getResidual() &&
      failed(expectShape(*this, "residual", getResidual(), input)))
    return failure();
  // The sum only exists when there is something to sum.
  if (getSum()) {
    if (!getResidual())
      return emitOpError("has a sum result but no residual operand");
    if (failed(expectShape(*this, "sum", getSum(), input)))
      return failure();
  }
  double eps = getEpsilon().convertToDouble();
  if (!(eps > 0.0) || !std::isfinite(eps))
    return emitOpError() << "epsilon must be positive and finite, found "
                         << eps;
  return success();
}

//===----------------------------------------------------------------------===//
// SoftmaxOp
//===----------------------------------------------------------------------===//

LogicalResult SoftmaxOp::verify() {
  if (failed(verifyStaticShapes(*this)))
    return failure();
  if (shapeOf(getInput()).empty())
    return emitOpError("input must have rank >= 1");
  return success();
}

//===----------------------------------------------------------------------===//
// LinearOp
//===----------------------------------------------------------------------===//

int64_t LinearOp::getInFeatures() {
  ArrayRef<int64_t> w = shapeOf(getWeight());
  if (getWeightPanel())
    return w[1];
  return getTransposeWeight() ? w[0] : w[1];
}

int64_t LinearOp::getOutFeatures() {
  ArrayRef<int64_t> w = shapeOf(getWeight());
  // Packed panels may pad the last one with zero columns: the result says
  // how many features are real.
  if (getWeightPanel())
    return shapeOf(getResult()).empty() ? w[0] * w[2]
                                        : shapeOf(getResult()).back();
  return getTransposeWeight() ? w[1] : w[0];
}

LogicalResult LinearOp::verify() {
  if (failed(verifyStaticShapes(*this)))
    return failure();
  if (std::optional<uint64_t> panel = getWeightPanel()) {
    if (getTransposeWeight())
      return emitOpError("weight_panel and transpose_weight are exclusive");
    if (failed(expectRank(*this, "weight", getWeight(), 3)))
      return failure();
    if (shapeOf(getWeight())[2] != static_cast<int64_t>(*panel))
      return emitOpError() << "packed weight "
                           << formatShape(shapeOf(getWeight()))
                           << " must have panels of weight_panel = " << *panel
                           << " columns as its last dimension";
    int64_t panels = shapeOf(getWeight())[0], outFeatures = getOutFeatures();
    if (panels != (outFeatures + int64_t(*panel) - 1) / int64_t(*panel))
      return emitOpError() << "packed weight "
                           << formatShape(shapeOf(getWeight())) << " has "
                           << panels << " panels, but " << outFeatures
                           << " output features need "
                           << (outFeatures + int64_t(*panel) - 1) /
                                  int64_t(*panel)
                           << " (the last one padded with zeros)";
    if (getResidual() && outFeatures % int64_t(*panel) != 0)
      return emitOpError("a residual needs panels that tile the output "
                         "features exactly (no padded last panel)");
  } else if (failed(expectRank(*this, "weight", getWeight(), 2))) {
    return failure();
  }
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (input.empty())
    return emitOpError("input must have rank >= 1");
  if (input.back() != getInFeatures())
    return emitOpError() << "input feature size " << input.back()
                         << " does not match the weight "
                         << formatShape(shapeOf(getWeight()))
                         << (getWeightPanel()       ? " ([out/p, in, p] layout)"
                             : getTransposeWeight() ? " ([in, out] layout)"
                                                    : " ([out, in] layout)");
  int64_t outFeatures = getOutFeatures();
  if (getBias() && failed(expectShape(*this, "bias", getBias(), {outFeatures})))
    return failure();
  SmallVector<int64_t> expected(input);
  expected.back() = outFeatures;
  if (getResidual() &&
      failed(expectShape(*this, "residual", getResidual(), expected)))
    return failure();
  return expectShape(*this, "result", getResult(), expected);
}

//===----------------------------------------------------------------------===//
// SplitOp
//===----------------------------------------------------------------------===//

LogicalResult SplitOp::verify() {
  if (failed(verifyStaticShapes(*this)))
    return failure();
  if (getResults().empty())
    return emitOpError("must have at least one result");
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (input.empty())
    return emitOpError("input must have rank >= 1");
  int64_t covered = 0;
  for (auto [i, result] : llvm::enumerate(getResults())) {
    ArrayRef<int64_t> shape = shapeOf(result);
    if (shape.empty() || shape.back() < 1 ||
        shape.drop_back() != input.drop_back())
      return emitOpError() << "result " << i << " must have the input's shape "
                           << formatShape(input)
                           << " with a positive last dimension, found "
                           << formatShape(shape);
    covered += shape.back();
  }
  if (covered != input.back())
    return emitOpError() << "results cover " << covered
                         << " columns of the last dimension, but the input "
                            "has "
                         << input.back();
  return success();
}

//===----------------------------------------------------------------------===//
// FeedForwardOp
//===----------------------------------------------------------------------===//

LogicalResult FeedForwardOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "fc1 weight", getFc1Weight(), 2)))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (input.empty())
    return emitOpError("input must have rank >= 1");
  int64_t width = input.back();
  int64_t hidden = shapeOf(getFc1Weight())[0];
  if (failed(
          expectShape(*this, "fc1 weight", getFc1Weight(), {hidden, width})) ||
      failed(
          expectShape(*this, "fc2 weight", getFc2Weight(), {width, hidden})) ||
      (getFc1Bias() &&
       failed(expectShape(*this, "fc1 bias", getFc1Bias(), {hidden}))) ||
      (getFc2Bias() &&
       failed(expectShape(*this, "fc2 bias", getFc2Bias(), {width}))))
    return failure();
  return expectShape(*this, "result", getResult(), input);
}

//===----------------------------------------------------------------------===//
// Attention masks and heads, shared by both attention ops
//===----------------------------------------------------------------------===//

static LogicalResult verifyHeads(Operation *op, int64_t width, int64_t numHeads,
                                 StringRef what) {
  if (width % numHeads != 0)
    return op->emitOpError() << what << " width " << width
                             << " is not divisible by num_heads = " << numHeads;
  return success();
}

static LogicalResult verifyKeyLengths(Operation *op, Value keyLengths,
                                      int64_t batch) {
  if (!keyLengths)
    return success();
  return expectShape(op, "key_lengths", keyLengths, {batch});
}

//===----------------------------------------------------------------------===//
// MultiHeadAttentionOp
//===----------------------------------------------------------------------===//

double MultiHeadAttentionOp::getEffectiveScale() {
  if (std::optional<llvm::APFloat> scale = getScale())
    return scale->convertToDouble();
  int64_t width = shapeOf(getQuery())[2];
  return 1.0 / std::sqrt(static_cast<double>(width / getNumHeads()));
}

/// A pattern replaces `causal`, splits the heads evenly into its groups,
/// and must be well formed for these sequence lengths (global positions
/// inside the sequence, a block layout of the right size, ...).
static LogicalResult verifyPattern(Operation *op, AttentionPatternAttr pattern,
                                   bool causal, int64_t heads, int64_t sq,
                                   int64_t sk) {
  if (!pattern)
    return success();
  if (causal)
    return op->emitOpError()
           << "has both `causal` and a pattern: the pattern replaces the "
              "causal mask (use a causal pattern such as `causal` or "
              "`sliding_window(w = 8, causal)`)";
  PatternGroups groups = pattern.getGroups();
  int64_t numGroups = static_cast<int64_t>(groups.size());
  if (heads % numGroups != 0)
    return op->emitOpError()
           << "pattern has " << numGroups << " head groups, which do not "
           << "divide the " << heads << " heads evenly";
  // A family that is not a mask has no block map to check here; its
  // lowering checks what it needs.
  if (sq == 0 || sk == 0 || approximationOf(groups))
    return success();
  for (auto [g, parts] : llvm::enumerate(groups)) {
    AttentionPattern checked(parts, sq, sk);
    if (!checked.error().empty()) {
      InFlightDiagnostic diag = op->emitOpError() << "pattern ";
      if (numGroups > 1)
        diag << "head group " << g << " ";
      return diag << "is malformed for " << sq << " queries and " << sk
                  << " keys: " << checked.error();
    }
  }
  return success();
}

LogicalResult MultiHeadAttentionOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "query", getQuery(), 3)) ||
      failed(expectRank(*this, "key_value", getKeyValue(), 3)))
    return failure();
  ArrayRef<int64_t> query = shapeOf(getQuery());
  ArrayRef<int64_t> keyValue = shapeOf(getKeyValue());
  int64_t batch = query[0], width = query[2], kvWidth = keyValue[2];
  if (keyValue[0] != batch)
    return emitOpError() << "query batch " << batch
                         << " differs from key_value batch " << keyValue[0];
  if (failed(verifyHeads(*this, width, getNumHeads(), "query")))
    return failure();
  struct Projection {
    StringRef name;
    Value weight, bias;
    int64_t in;
  } projections[] = {{"q", getQWeight(), getQBias(), width},
                     {"k", getKWeight(), getKBias(), kvWidth},
                     {"v", getVWeight(), getVBias(), kvWidth},
                     {"out", getOutWeight(), getOutBias(), width}};
  for (const Projection &p : projections) {
    if (failed(expectShape(*this, (p.name + " weight").str(), p.weight,
                           {width, p.in})))
      return failure();
    if (p.bias &&
        failed(expectShape(*this, (p.name + " bias").str(), p.bias, {width})))
      return failure();
  }
  if (failed(verifyKeyLengths(*this, getKeyLengths(), batch)))
    return failure();
  if (std::optional<llvm::APFloat> scale = getScale()) {
    double s = scale->convertToDouble();
    if (!(s > 0.0) || !std::isfinite(s))
      return emitOpError() << "scale must be positive and finite, found " << s;
  }
  if (failed(verifyPattern(*this, getPatternAttr(), getCausal(), getNumHeads(),
                           query[1], keyValue[1])))
    return failure();
  return expectShape(*this, "result", getResult(), query);
}

//===----------------------------------------------------------------------===//
// AttentionOp
//===----------------------------------------------------------------------===//

LogicalResult AttentionOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "query", getQuery(), 3)) ||
      failed(expectRank(*this, "key", getKey(), 3)) ||
      failed(expectRank(*this, "value", getValue(), 3)))
    return failure();
  ArrayRef<int64_t> q = shapeOf(getQuery());
  ArrayRef<int64_t> k = shapeOf(getKey());
  ArrayRef<int64_t> v = shapeOf(getValue());
  int64_t batch = q[0];
  if (failed(expectShape(*this, "key", getKey(), {batch, k[1], q[2]})) ||
      failed(expectShape(*this, "value", getValue(), {batch, k[1], v[2]})) ||
      failed(verifyHeads(*this, q[2], getNumHeads(), "query")) ||
      failed(verifyHeads(*this, v[2], getNumHeads(), "value")) ||
      failed(verifyKeyLengths(*this, getKeyLengths(), batch)))
    return failure();
  double s = getScale().convertToDouble();
  if (!(s > 0.0) || !std::isfinite(s))
    return emitOpError() << "scale must be positive and finite, found " << s;
  if (failed(verifyPattern(*this, getPatternAttr(), getCausal(), getNumHeads(),
                           q[1], k[1])))
    return failure();
  return expectShape(*this, "result", getResult(), {batch, q[1], v[2]});
}

//===----------------------------------------------------------------------===//
// SequenceConcatOp
//===----------------------------------------------------------------------===//

LogicalResult SequenceConcatOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "first", getFirst(), 3)) ||
      failed(expectRank(*this, "second", getSecond(), 3)))
    return failure();
  ArrayRef<int64_t> first = shapeOf(getFirst());
  ArrayRef<int64_t> second = shapeOf(getSecond());
  if (failed(expectShape(*this, "second", getSecond(),
                         {first[0], second[1], first[2]})))
    return failure();
  return expectShape(*this, "result", getResult(),
                     {first[0], first[1] + second[1], first[2]});
}

//===----------------------------------------------------------------------===//
// CacheWriteOp
//===----------------------------------------------------------------------===//

LogicalResult CacheWriteOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "cache", getCache(), 3)) ||
      failed(expectRank(*this, "update", getUpdate(), 3)))
    return failure();
  ArrayRef<int64_t> cache = shapeOf(getCache());
  ArrayRef<int64_t> update = shapeOf(getUpdate());
  if (failed(expectShape(*this, "update", getUpdate(),
                         {cache[0], update[1], cache[2]})))
    return failure();
  if (update[1] > cache[1])
    return emitOpError() << "update has " << update[1]
                         << " positions, more than the cache's " << cache[1];
  if (getPosition() &&
      failed(expectShape(*this, "position", getPosition(), {1})))
    return failure();
  return expectShape(*this, "result", getResult(), cache);
}

//===----------------------------------------------------------------------===//
// SentencePoolOp
//===----------------------------------------------------------------------===//

LogicalResult SentencePoolOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "input", getInput(), 3)))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  if (getLengths() &&
      failed(expectShape(*this, "lengths", getLengths(), {input[0]})))
    return failure();
  if (failed(expectShape(*this, "result", getResult(), {input[0], input[2]})))
    return failure();
  // The first position must exist for cls, and a mean over no positions
  // is defined only per item (lengths), never for a whole empty axis.
  if (input[1] < 1)
    return emitOpError() << "input must have at least one position, found "
                         << input[1];
  double epsilon = getEpsilon().convertToDouble();
  if (!(epsilon > 0))
    return emitOpError() << "epsilon must be positive, found " << epsilon;
  return success();
}

//===----------------------------------------------------------------------===//
// SequenceSliceOp
//===----------------------------------------------------------------------===//

LogicalResult SequenceSliceOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "input", getInput(), 3)) ||
      failed(expectRank(*this, "result", getResult(), 3)))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  ArrayRef<int64_t> result = shapeOf(getResult());
  if (failed(expectShape(*this, "result", getResult(),
                         {input[0], result[1], input[2]})))
    return failure();
  // Both are at most the input's length, so the sum cannot overflow.
  if (static_cast<int64_t>(getOffset()) > input[1] ||
      result[1] > input[1] - static_cast<int64_t>(getOffset()))
    return emitOpError() << "positions [" << getOffset() << ", "
                         << getOffset() + result[1]
                         << ") must lie inside the input's " << input[1]
                         << " positions";
  return success();
}

//===----------------------------------------------------------------------===//
// RelativeAttentionOp
//===----------------------------------------------------------------------===//

LogicalResult RelativeAttentionOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "query", getQuery(), 3)) ||
      failed(expectRank(*this, "key", getKey(), 3)) ||
      failed(expectRank(*this, "value", getValue(), 3)) ||
      failed(expectRank(*this, "position_weight", getPositionWeight(), 2)))
    return failure();
  ArrayRef<int64_t> q = shapeOf(getQuery());
  ArrayRef<int64_t> k = shapeOf(getKey());
  ArrayRef<int64_t> v = shapeOf(getValue());
  int64_t batch = q[0], heads = getNumHeads();
  if (failed(expectShape(*this, "key", getKey(), {batch, k[1], q[2]})) ||
      failed(expectShape(*this, "value", getValue(), {batch, k[1], v[2]})) ||
      failed(verifyHeads(*this, q[2], heads, "query")) ||
      failed(verifyHeads(*this, v[2], heads, "value")))
    return failure();
  // The keys are [memory ; segment]: the segment's queries are the last Sq
  // of them, so there are never fewer keys than queries.
  if (k[1] < q[1])
    return emitOpError() << "key has " << k[1]
                         << " positions, fewer than the query's " << q[1]
                         << " (keys are [memory ; segment])";
  int64_t headDim = q[2] / heads;
  ArrayRef<int64_t> position = shapeOf(getPositionWeight());
  if (position[0] != q[2])
    return emitOpError() << "position_weight must have " << q[2]
                         << " rows (num_heads * head_dim), found "
                         << formatShape(position);
  // The encoding is [sin | cos] halves of equal width.
  if (position[1] < 2 || position[1] % 2 != 0)
    return emitOpError() << "position_weight must have an even number of "
                            "columns (the [sin | cos] encoding width), found "
                         << formatShape(position);
  if (failed(expectShape(*this, "content_bias", getContentBias(),
                         {heads, headDim})) ||
      failed(expectShape(*this, "position_bias", getPositionBias(),
                         {heads, headDim})))
    return failure();
  if (Value lengths = getMemoryLengths();
      lengths && failed(expectShape(*this, "memory_lengths", lengths, {batch})))
    return failure();
  double s = getScale().convertToDouble();
  if (!(s > 0.0) || !std::isfinite(s))
    return emitOpError() << "scale must be positive and finite, found " << s;
  return expectShape(*this, "result", getResult(), {batch, q[1], v[2]});
}

//===----------------------------------------------------------------------===//
// LinformerProjectionOp
//===----------------------------------------------------------------------===//

LogicalResult LinformerProjectionOp::verify() {
  if (failed(verifyStaticShapes(*this)) ||
      failed(expectRank(*this, "input", getInput(), 3)))
    return failure();
  ArrayRef<int64_t> input = shapeOf(getInput());
  ArrayRef<int64_t> projection = shapeOf(getProjection());
  int64_t batch = input[0], n = input[1], width = input[2];
  int64_t heads = getNumHeads();
  if (failed(verifyHeads(*this, width, heads, "input")))
    return failure();
  // [k, n] is shared by every head, [H, k, n] holds one matrix per head.
  if (projection.size() != 2 && projection.size() != 3)
    return emitOpError() << "projection must be [k, n] or [num_heads, k, n] "
                            "with n = "
                         << n << ", found " << formatShape(projection);
  bool perHead = projection.size() == 3;
  if (perHead && projection[0] != heads)
    return emitOpError() << "per-head projection must have num_heads = "
                         << heads << " matrices, found "
                         << formatShape(projection);
  int64_t k = projection[projection.size() - 2];
  // E and F are learned for one sequence length: they cannot be applied to
  // another.
  if (projection.back() != n)
    return emitOpError() << "projection has " << projection.back()
                         << " columns, but the input has n = " << n
                         << " positions (" << formatShape(projection)
                         << " against input " << formatShape(input) << ")";
  if (failed(verifyKeyLengths(*this, getKeyLengths(), batch)))
    return failure();
  if (AttentionPatternAttr pattern = getPatternAttr()) {
    PatternGroups groups = pattern.getGroups();
    const PatternPart *family = approximationOf(groups);
    if (!family || family->kind != PatternPart::Kind::Linformer)
      return emitOpError() << "pattern must be a linformer pattern, found \""
                           << pattern.getText() << "\"";
    if (family->projection != k)
      return emitOpError() << "pattern projects to k = " << family->projection
                           << " rows, the projection has k = " << k;
    if (perHead != (family->sharing == PatternPart::Sharing::None))
      return emitOpError()
             << "pattern \"" << pattern.getText() << "\" needs a "
             << (perHead ? "[k, n]" : "[num_heads, k, n]")
             << " projection, found " << formatShape(projection);
  }
  return expectShape(*this, "result", getResult(), {batch, k, width});
}
