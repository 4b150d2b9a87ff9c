//===- MemoryPlan.cpp - Static placement of buffers in one arena ----------===//
//
// Part of xfc. This file implements the memory planner of MemoryPlan.h:
// greedy placement by decreasing size with best fit, the lower bound, a
// checker, and the JSON and SVG renderings of a plan.
//
// Largest-first best-fit is the classic heuristic for this offline problem
// (dynamic storage allocation, NP-hard in general); on Transformer graphs,
// whose buffers come in a few sizes and nest well, it lands within a few
// per cent of the lower bound, which --explain reports so it can be seen.
//
//===----------------------------------------------------------------------===//
#include "xf/Analysis/MemoryPlan.h"

#include <algorithm>
#include <cstdio>
#include <numeric>
#include <set>
#include <sstream>

namespace xfc {
namespace {

uint64_t alignUp(uint64_t value, uint64_t alignment) {
  return alignment <= 1 ? value : (value + alignment - 1) / alignment * alignment;
}

bool timesIntersect(const PlanBuffer &a, const PlanBuffer &b) {
  return a.firstUse <= b.lastUse && b.firstUse <= a.lastUse;
}

/// True if `b` may take over `a`'s bytes in place (or the other way round):
/// one names the other and the first one's lifetime ends where the second
/// one's begins.
bool inPlacePartners(const std::vector<PlanBuffer> &buffers, size_t a,
                     size_t b) {
  auto hint = [&](size_t later, size_t earlier) {
    return buffers[later].inPlaceOf == static_cast<int64_t>(earlier) &&
           buffers[earlier].lastUse == buffers[later].firstUse;
  };
  return hint(a, b) || hint(b, a);
}

/// Whether [offset, offset + size) is free of every placed buffer that
/// conflicts with `index` in time, ignoring `except`.
bool rangeIsFree(const MemoryPlan &plan, const std::vector<bool> &placed,
                 size_t index, uint64_t offset, size_t except) {
  const PlanBuffer &buffer = plan.buffers[index];
  for (size_t other = 0; other < plan.buffers.size(); ++other) {
    if (!placed[other] || other == except ||
        !timesIntersect(buffer, plan.buffers[other]) ||
        plan.buffers[other].size == 0)
      continue;
    uint64_t begin = plan.offsets[other],
             end = begin + plan.buffers[other].size;
    if (offset < end && begin < offset + buffer.size)
      return false;
  }
  return true;
}

/// The lower bound: at every position where a buffer starts, the bytes of
/// all live buffers, with each honourable in-place pair counted once.
void computeLowerBound(MemoryPlan &plan) {
  const std::vector<PlanBuffer> &buffers = plan.buffers;
  std::set<int64_t> starts;
  for (const PlanBuffer &b : buffers)
    starts.insert(b.firstUse);
  for (int64_t t : starts) {
    uint64_t live = 0;
    // A buffer starting here in place of one ending here needs no bytes of
    // its own; a dying buffer lends itself to one successor only, so each
    // one discounts its largest claim (claims form stars around the dying
    // buffers, so this is the best matching).
    std::vector<uint64_t> discount(buffers.size(), 0);
    for (size_t i = 0; i < buffers.size(); ++i) {
      const PlanBuffer &b = buffers[i];
      if (b.firstUse > t || b.lastUse < t)
        continue;
      live += b.size;
      int64_t partner = b.inPlaceOf;
      if (b.firstUse == t && partner >= 0 && buffers[partner].lastUse == t)
        discount[partner] = std::max(discount[partner],
                                     std::min(b.size, buffers[partner].size));
    }
    for (uint64_t d : discount)
      live -= d;
    if (live > plan.lowerBoundBytes || plan.peakPosition < 0) {
      plan.lowerBoundBytes = std::max(plan.lowerBoundBytes, live);
      plan.peakPosition = t;
    }
  }
}

} // namespace

MemoryPlan planMemory(std::vector<PlanBuffer> buffers) {
  MemoryPlan plan;
  size_t n = buffers.size();
  plan.buffers = std::move(buffers);
  plan.offsets.assign(n, 0);
  plan.placedInPlace.assign(n, false);
  for (PlanBuffer &b : plan.buffers) {
    // Bad hints are dropped rather than trusted.
    if (b.inPlaceOf < 0 || b.inPlaceOf >= static_cast<int64_t>(n))
      b.inPlaceOf = -1;
    if (b.alignment == 0 || (b.alignment & (b.alignment - 1)) != 0)
      b.alignment = 1;
    plan.naiveBytes += b.size;
  }
  computeLowerBound(plan);

  // Largest first; among equals, the earlier lifetime first, then input
  // order, so the result does not depend on the sort's stability.
  std::vector<size_t> order(n);
  std::iota(order.begin(), order.end(), 0);
  std::sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    const PlanBuffer &x = plan.buffers[a], &y = plan.buffers[b];
    if (x.size != y.size)
      return x.size > y.size;
    if (x.firstUse != y.firstUse)
      return x.firstUse < y.firstUse;
    return a < b;
  });

  std::vector<bool> placed(n, false);
  std::vector<bool> lent(n, false); // Whose bytes an in-place buffer took.
  for (size_t index : order) {
    const PlanBuffer &buffer = plan.buffers[index];
    if (buffer.size == 0) {
      placed[index] = true;
      continue;
    }
    // In place: share the partner's offset exactly if nothing else is in
    // the way. The partner may be placed before or after this buffer, so
    // look in both directions.
    bool done = false;
    for (size_t other = 0; other < n && !done; ++other) {
      if (!placed[other] || !inPlacePartners(plan.buffers, index, other))
        continue;
      size_t earlier = plan.buffers[index].inPlaceOf ==
                               static_cast<int64_t>(other)
                           ? other
                           : index;
      if (lent[earlier])
        continue;
      uint64_t offset = plan.offsets[other];
      if (offset % buffer.alignment != 0 ||
          !rangeIsFree(plan, placed, index, offset, other))
        continue;
      plan.offsets[index] = offset;
      lent[earlier] = true;
      plan.placedInPlace[earlier == other ? index : other] = true;
      done = true;
    }
    if (done) {
      placed[index] = true;
      continue;
    }

    // Best fit among the gaps left by placed buffers alive at the same time.
    std::vector<std::pair<uint64_t, uint64_t>> busy;
    for (size_t other = 0; other < n; ++other)
      if (placed[other] && plan.buffers[other].size != 0 &&
          timesIntersect(buffer, plan.buffers[other]))
        busy.emplace_back(plan.offsets[other],
                          plan.offsets[other] + plan.buffers[other].size);
    std::sort(busy.begin(), busy.end());
    uint64_t cursor = 0, best = UINT64_MAX, bestWaste = UINT64_MAX;
    for (const auto &[begin, end] : busy) {
      uint64_t start = alignUp(cursor, buffer.alignment);
      if (start + buffer.size <= begin && begin - start - buffer.size < bestWaste) {
        bestWaste = begin - start - buffer.size;
        best = start;
      }
      cursor = std::max(cursor, end);
    }
    if (best == UINT64_MAX)
      best = alignUp(cursor, buffer.alignment);
    plan.offsets[index] = best;
    placed[index] = true;
  }

  for (size_t i = 0; i < n; ++i)
    plan.arenaBytes =
        std::max(plan.arenaBytes, plan.offsets[i] + plan.buffers[i].size);
  return plan;
}

std::string verifyMemoryPlan(const MemoryPlan &plan) {
  const std::vector<PlanBuffer> &buffers = plan.buffers;
  if (plan.offsets.size() != buffers.size())
    return "the plan has " + std::to_string(plan.offsets.size()) +
           " offsets for " + std::to_string(buffers.size()) + " buffers";
  auto describe = [&](size_t i) {
    return "buffer " + std::to_string(i) + " ('" + buffers[i].name +
           "', offset " + std::to_string(plan.offsets[i]) + ", " +
           std::to_string(buffers[i].size) + " bytes, live [" +
           std::to_string(buffers[i].firstUse) + ", " +
           std::to_string(buffers[i].lastUse) + "])";
  };
  for (size_t i = 0; i < buffers.size(); ++i) {
    if (buffers[i].alignment > 1 && plan.offsets[i] % buffers[i].alignment)
      return describe(i) + " is not aligned to " +
             std::to_string(buffers[i].alignment);
    if (plan.offsets[i] + buffers[i].size > plan.arenaBytes)
      return describe(i) + " ends past the arena (" +
             std::to_string(plan.arenaBytes) + " bytes)";
  }
  for (size_t i = 0; i < buffers.size(); ++i) {
    for (size_t j = i + 1; j < buffers.size(); ++j) {
      if (!timesIntersect(buffers[i], buffers[j]) || buffers[i].size == 0 ||
          buffers[j].size == 0)
        continue;
      uint64_t a = plan.offsets[i], b = plan.offsets[j];
      if (a >= b + buffers[j].size || b >= a + buffers[i].size)
        continue;
      if (a == b && inPlacePartners(buffers, i, j))
        continue;
      return describe(i) + " and " + describe(j) +
             " are alive together and share bytes";
    }
  }
  if (plan.arenaBytes < plan.lowerBoundBytes)
    return "the arena (" + std::to_string(plan.arenaBytes) +
           " bytes) is below the lower bound (" +
           std::to_string(plan.lowerBoundBytes) + ")";
  return "";
}

namespace {

/// Escapes `text` for a JSON string or XML text (both refuse raw control
/// characters, quotes and, for XML, markup characters).
std::string escape(const std::string &text, bool xml) {
  std::string out;
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    if (xml && c == '<')
      out += "&lt;";
    else if (xml && c == '>')
      out += "&gt;";
    else if (xml && c == '&')
      out += "&amp;";
    else if (c == '"')
      out += xml ? "&quot;" : "\\\"";
    else if (!xml && c == '\\')
      out += "\\\\";
    else if (u < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof(buffer), "\\u%04x", u);
      out += xml ? std::string(" ") : std::string(buffer);
    } else
      out += c;
  }
  return out;
}

} // namespace

std::string memoryPlanToJson(const MemoryPlan &plan) {
  std::ostringstream os;
  os << "{\n  \"arena_bytes\": " << plan.arenaBytes
     << ",\n  \"naive_bytes\": " << plan.naiveBytes
     << ",\n  \"lower_bound_bytes\": " << plan.lowerBoundBytes
     << ",\n  \"peak_position\": " << plan.peakPosition
     << ",\n  \"buffers\": [";
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &b = plan.buffers[i];
    os << (i ? "," : "") << "\n    {\"index\": " << i << ", \"name\": \""
       << escape(b.name, false) << "\", \"size\": " << b.size
       << ", \"alignment\": " << b.alignment << ", \"first_use\": "
       << b.firstUse << ", \"last_use\": " << b.lastUse
       << ", \"offset\": " << plan.offsets[i];
    if (b.inPlaceOf >= 0)
      os << ", \"in_place_of\": " << b.inPlaceOf << ", \"in_place\": "
         << (i < plan.placedInPlace.size() && plan.placedInPlace[i] ? "true"
                                                                     : "false");
    os << "}";
  }
  os << (plan.buffers.empty() ? "]\n}\n" : "\n  ]\n}\n");
  return os.str();
}

std::string memoryPlanToSvg(const MemoryPlan &plan) {
  // Fixed canvas; positions and offsets are scaled to it.
  const double width = 1200, height = 700, left = 90, right = 20, top = 40,
               bottom = 50;
  int64_t first = 0, last = 0;
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    first = i ? std::min(first, plan.buffers[i].firstUse)
              : plan.buffers[i].firstUse;
    last = i ? std::max(last, plan.buffers[i].lastUse)
             : plan.buffers[i].lastUse;
  }
  double span = static_cast<double>(last - first + 1);
  double bytes = static_cast<double>(std::max<uint64_t>(plan.arenaBytes, 1));
  double plotW = width - left - right, plotH = height - top - bottom;
  auto x = [&](double position) {
    return left + (position - first) / span * plotW;
  };
  auto y = [&](double offset) { return top + plotH - offset / bytes * plotH; };
  auto mib = [](uint64_t b) { return b / 1048576.0; };

  std::ostringstream os;
  os.setf(std::ios::fixed);
  os.precision(2);
  os << "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"" << width
     << "\" height=\"" << height << "\" font-family=\"sans-serif\" "
     << "font-size=\"12\">\n";
  os << "<rect width=\"100%\" height=\"100%\" fill=\"white\"/>\n";
  os << "<text x=\"" << left << "\" y=\"20\">memory plan: arena "
     << mib(plan.arenaBytes) << " MiB, lower bound "
     << mib(plan.lowerBoundBytes) << " MiB, naive " << mib(plan.naiveBytes)
     << " MiB, " << plan.buffers.size() << " buffers</text>\n";
  for (size_t i = 0; i < plan.buffers.size(); ++i) {
    const PlanBuffer &b = plan.buffers[i];
    if (b.size == 0)
      continue;
    // A hue per buffer so neighbours are told apart.
    unsigned hue = static_cast<unsigned>((i * 137) % 360);
    double x0 = x(b.firstUse), x1 = x(b.lastUse + 1);
    double y0 = y(plan.offsets[i] + b.size), y1 = y(plan.offsets[i]);
    os << "<rect x=\"" << x0 << "\" y=\"" << y0 << "\" width=\""
       << std::max(x1 - x0, 0.5) << "\" height=\"" << std::max(y1 - y0, 0.5)
       << "\" fill=\"hsl(" << hue << ",60%,65%)\" stroke=\"black\" "
       << "stroke-width=\"0.3\"><title>" << escape(b.name, true) << ": "
       << b.size << " bytes at " << plan.offsets[i] << ", live ["
       << b.firstUse << ", " << b.lastUse << "]</title></rect>\n";
  }
  // The axes, the arena top and the lower bound.
  os << "<line x1=\"" << left << "\" y1=\"" << y(0) << "\" x2=\""
     << width - right << "\" y2=\"" << y(0) << "\" stroke=\"black\"/>\n";
  os << "<line x1=\"" << left << "\" y1=\"" << top << "\" x2=\"" << left
     << "\" y2=\"" << y(0) << "\" stroke=\"black\"/>\n";
  os << "<line x1=\"" << left << "\" y1=\"" << y(plan.lowerBoundBytes)
     << "\" x2=\"" << width - right << "\" y2=\"" << y(plan.lowerBoundBytes)
     << "\" stroke=\"red\" stroke-dasharray=\"6,4\"/>\n";
  os << "<text x=\"4\" y=\"" << y(plan.lowerBoundBytes) + 4
     << "\" fill=\"red\">lower bound</text>\n";
  os << "<text x=\"4\" y=\"" << top + 4 << "\">" << mib(plan.arenaBytes)
     << " MiB</text>\n";
  os << "<text x=\"4\" y=\"" << y(0) << "\">0</text>\n";
  os << "<text x=\"" << left << "\" y=\"" << height - 15
     << "\">schedule position " << first << " .. " << last
     << " (x) \xC3\x97 arena offset (y)</text>\n";
  os << "</svg>\n";
  return os.str();
}

} // namespace xfc
