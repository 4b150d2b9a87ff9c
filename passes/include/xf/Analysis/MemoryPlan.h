//===- MemoryPlan.h - Static placement of buffers in one arena --*- C++ -*-===//
//
// Part of xfc. The target-neutral memory planner: given the buffers of one
// run with their lifetimes (positions in a schedule), it assigns each an
// offset in a single arena so that buffers alive at the same time never
// share bytes, and reports how good the result is (the naive sum of all
// buffers and a lower bound). The CPU pass xf-plan-memory feeds it the
// allocations of the bufferized model function; a GPU backend can feed it
// its kernels' buffers. No MLIR here on purpose: the planner is plain data
// in, plain data out, so it can be unit tested and reused anywhere.
//
//===----------------------------------------------------------------------===//
#ifndef XF_ANALYSIS_MEMORYPLAN_H
#define XF_ANALYSIS_MEMORYPLAN_H

#include <cstdint>
#include <string>
#include <vector>

namespace xfc {

/// One buffer to place. The lifetime is the closed interval
/// [firstUse, lastUse] of schedule positions; two buffers conflict when
/// their intervals intersect.
struct PlanBuffer {
  std::string name;
  uint64_t size = 0;
  /// A power of two; the offset is a multiple of it.
  uint64_t alignment = 1;
  int64_t firstUse = 0, lastUse = 0;
  /// Index (in the planner's input) of a buffer whose bytes this one may
  /// take over in place, or -1. Legal only where the other buffer's last
  /// use is this one's first use and that use reads element i before
  /// writing element i at the same byte offset (an elementwise op); the
  /// planner then may give both the same offset although their lifetimes
  /// touch. Any other partial overlap stays forbidden.
  int64_t inPlaceOf = -1;
};

/// The result of planMemory.
struct MemoryPlan {
  /// The input, in input order.
  std::vector<PlanBuffer> buffers;
  /// Offset of each buffer in the arena (same order).
  std::vector<uint64_t> offsets;
  /// True where a buffer took over its `inPlaceOf` buffer's bytes.
  std::vector<bool> placedInPlace;
  /// Bytes the arena needs: the largest offset + size.
  uint64_t arenaBytes = 0;
  /// What one allocation per buffer would take: the sum of all sizes.
  uint64_t naiveBytes = 0;
  /// The largest total of buffers alive at one position (counting an
  /// in-place pair once): no placement can use less.
  uint64_t lowerBoundBytes = 0;
  /// A position where the lower bound is reached (-1 if there are no
  /// buffers).
  int64_t peakPosition = -1;
};

/// Places `buffers`: largest first, each at the best-fitting gap (the
/// smallest one it fits in) among the already placed buffers whose
/// lifetimes intersect its own, or at their top; an in-place hint is
/// taken when its partner's offset is free otherwise.
MemoryPlan planMemory(std::vector<PlanBuffer> buffers);

/// Checks `plan`: offsets aligned, every buffer inside the arena, and no two
/// buffers that are alive together sharing a byte (except an in-place pair
/// at the same offset). Returns an empty string or what is wrong.
std::string verifyMemoryPlan(const MemoryPlan &plan);

/// The plan as a JSON object: the three totals, then one entry per buffer
/// (name, size, alignment, first/last use, offset, in-place partner).
std::string memoryPlanToJson(const MemoryPlan &plan);

/// The plan as an SVG picture: x is the schedule position, y the offset in
/// the arena; one rectangle per buffer (hover for its name), and a line at
/// the lower bound.
std::string memoryPlanToSvg(const MemoryPlan &plan);

} // namespace xfc

#endif // XF_ANALYSIS_MEMORYPLAN_H
