#!/usr/bin/env python3
#===- gen-unicode-tables.py - Unicode tables of the WordPiece tokenizer ----===#
#
# usage: /usr/bin/python3 scripts/gen-unicode-tables.py [OUT.cpp]
#
# Writes frontends/lib/UnicodeData.cpp (or OUT.cpp): the Unicode properties
# the BERT text normalizer needs (frontends/lib/WordPiece.cpp), taken from
# this Python's unicodedata, so the tables are those of one stated Unicode
# version and can be regenerated instead of edited:
#   - general categories Cc, Cf, Cs and Co (control, format, surrogate,
#     private use), removed by clean_text (except tab, newline, carriage
#     return). Not Cn (unassigned): the Rust tokenizers library keeps
#     unassigned code points (its is_other() leaves them out), unlike the
#     Python BertTokenizer;
#   - general category Z* (separators), which become spaces;
#   - general category P* (punctuation), split off as tokens;
#   - general category Mn (nonspacing marks), dropped by strip_accents;
#   - the canonical decomposition (NFD) of every code point with the
#     nonspacing marks already removed, i.e. what strip_accents leaves of
#     it (Hangul syllables are decomposed by the algorithm in the C++ code,
#     not tabulated);
#   - the full lower-case mapping of every code point (str.lower() of the
#     single character, so no context-dependent final sigma: the Rust
#     tokenizers library that BertTokenizerFast runs lowercases one
#     character at a time).
# Ranges are stored as [lo, hi] pairs and the lowercase map as runs of
# equal offset with stride 1 or 2, so the file stays small.
#
#===------------------------------------------------------------------------===#
import sys
import unicodedata
from pathlib import Path

MAX = 0x110000
HANGUL_FIRST, HANGUL_LAST = 0xAC00, 0xD7A3


def ranges(pred):
    out, start = [], None
    for cp in range(MAX + 1):
        inside = cp < MAX and pred(cp)
        if inside and start is None:
            start = cp
        elif not inside and start is not None:
            out.append((start, cp - 1))
            start = None
    return out


def category(cp):
    return unicodedata.category(chr(cp))


def strip_table():
    """cp -> what NFD-then-drop-Mn leaves of it, where that differs."""
    table = {}
    for cp in range(MAX):
        if HANGUL_FIRST <= cp <= HANGUL_LAST:
            continue
        nfd = unicodedata.normalize("NFD", chr(cp))
        if nfd == chr(cp):
            continue
        kept = [ord(c) for c in nfd if unicodedata.category(c) != "Mn"]
        assert len(kept) <= 3
        table[cp] = kept
    return table


def lower_tables():
    """Single-character lowercase as runs (first, last, stride, delta) and
    the multi-character mappings."""
    single, multi = [], {}
    for cp in range(MAX):
        low = chr(cp).lower()
        if low == chr(cp):
            continue
        if len(low) == 1:
            single.append((cp, ord(low) - cp))
        else:
            assert len(low) <= 3
            multi[cp] = [ord(c) for c in low]
    runs, i = [], 0
    while i < len(single):
        cp, delta = single[i]
        j, stride = i, 1
        if (i + 1 < len(single) and single[i + 1][1] == delta
                and single[i + 1][0] - cp in (1, 2)):
            stride = single[i + 1][0] - cp
            while (j + 1 < len(single) and single[j + 1][1] == delta
                   and single[j + 1][0] - single[j][0] == stride):
                j += 1
        runs.append((cp, single[j][0], stride, delta))
        i = j + 1
    # The C++ lookup takes the last run starting at or before a code point:
    # check that this finds every mapping and maps nothing else.
    mapped = dict(single)
    for a, b in zip(runs, runs[1:]):
        assert a[1] < b[0]
    for first, last, stride, delta in runs:
        for cp in range(first, last + 1):
            if (cp - first) % stride == 0:
                assert mapped.pop(cp) == delta
            else:
                assert cp not in mapped
    assert not mapped
    return runs, multi


def emit_rows(items, per_line):
    lines = []
    for i in range(0, len(items), per_line):
        lines.append("    " + " ".join(items[i:i + per_line]))
    return "\n".join(lines)


def range_table(name, rs):
    items = ["{0x%X, 0x%X}," % r for r in rs]
    return ("const Range %s[] = {\n%s\n};\n" % (name, emit_rows(items, 4)))


def main():
    out = Path(sys.argv[1]) if len(sys.argv) > 1 else (
        Path(__file__).resolve().parent.parent / "frontends/lib/UnicodeData.cpp")
    other = ranges(lambda cp: category(cp) in ("Cc", "Cf", "Cs", "Co"))
    sep = ranges(lambda cp: category(cp)[0] == "Z")
    punct = ranges(lambda cp: category(cp)[0] == "P")
    marks = ranges(lambda cp: category(cp) == "Mn")
    strip = strip_table()
    runs, multi = lower_tables()

    def mapping(cp, out):
        return "{0x%X, %d, {%s}}," % (cp, len(out),
                                      ", ".join("0x%X" % c for c in out))
    strip_one = ["{0x%X, 0x%X}," % (cp, strip[cp][0]) for cp in sorted(strip)
                 if len(strip[cp]) == 1]
    strip_items = [mapping(cp, strip[cp]) for cp in sorted(strip)
                   if len(strip[cp]) != 1]
    run_items = ["{0x%X, 0x%X, %d, %d}," % r for r in runs]
    multi_items = [mapping(cp, multi[cp]) for cp in sorted(multi)]

    text = f"""\
//===- UnicodeData.cpp - Unicode tables of the WordPiece tokenizer --------===//
//
// Part of xfc.
//
// GENERATED by scripts/gen-unicode-tables.py from the unicodedata of
// Python {sys.version.split()[0]} (Unicode {unicodedata.unidata_version}). Do not edit: regenerate
// with /usr/bin/python3 scripts/gen-unicode-tables.py.
//
// This file implements the Unicode queries of UnicodeData.h with sorted
// tables searched by bisection.
//
//===----------------------------------------------------------------------===//

#include "UnicodeData.h"

#include <algorithm>
#include <iterator>

namespace xfc {{
namespace unicode {{
namespace {{

struct Range {{
  uint32_t lo, hi;
}};

/// A code point whose decomposition, without nonspacing marks, is one
/// other code point.
struct Pair {{
  uint32_t cp, out;
}};

/// A code point whose decomposition, without nonspacing marks, is `out`.
struct Mapping {{
  uint32_t cp;
  uint32_t count;
  uint32_t out[3];
}};

/// Code points first..last, every stride-th, map to cp + delta.
struct LowerRun {{
  uint32_t first, last, stride;
  int32_t delta;
}};

// General categories Cc, Cf, Cs, Co (not Cn).
{range_table("kOther", other)}
// General category Z*.
{range_table("kSeparator", sep)}
// General category P*.
{range_table("kPunctuation", punct)}
// General category Mn.
{range_table("kNonspacingMark", marks)}
// NFD of each code point with Mn removed, where that differs from the code
// point (Hangul syllables excluded): one code point ...
const Pair kStrippedOne[] = {{
{emit_rows(strip_one, 4)}
}};

// ... or none, two or three.
const Mapping kStripped[] = {{
{emit_rows(strip_items, 2)}
}};

// One-character lower-case mappings.
const LowerRun kLowerRuns[] = {{
{emit_rows(run_items, 3)}
}};

// Lower-case mappings longer than one character.
const Mapping kLowerMulti[] = {{
{emit_rows(multi_items, 2)}
}};

template <size_t N> bool inRanges(const Range (&table)[N], uint32_t cp) {{
  const Range *it = std::upper_bound(
      std::begin(table), std::end(table), cp,
      [](uint32_t value, const Range &r) {{ return value < r.lo; }});
  return it != std::begin(table) && cp <= std::prev(it)->hi;
}}

template <size_t N>
const Mapping *findMapping(const Mapping (&table)[N], uint32_t cp) {{
  const Mapping *it = std::lower_bound(
      std::begin(table), std::end(table), cp,
      [](const Mapping &m, uint32_t value) {{ return m.cp < value; }});
  return it != std::end(table) && it->cp == cp ? it : nullptr;
}}

}} // namespace

const char *const kVersion = "{unicodedata.unidata_version}";

bool isOther(uint32_t cp) {{ return inRanges(kOther, cp); }}
bool isSeparator(uint32_t cp) {{ return inRanges(kSeparator, cp); }}
bool isPunctuation(uint32_t cp) {{ return inRanges(kPunctuation, cp); }}
bool isNonspacingMark(uint32_t cp) {{ return inRanges(kNonspacingMark, cp); }}

size_t decomposeWithoutMarks(uint32_t cp, uint32_t out[3]) {{
  if (const Mapping *m = findMapping(kStripped, cp)) {{
    std::copy(m->out, m->out + m->count, out);
    return m->count;
  }}
  const Pair *it = std::lower_bound(
      std::begin(kStrippedOne), std::end(kStrippedOne), cp,
      [](const Pair &p, uint32_t value) {{ return p.cp < value; }});
  out[0] = it != std::end(kStrippedOne) && it->cp == cp ? it->out : cp;
  return 1;
}}

size_t toLower(uint32_t cp, uint32_t out[3]) {{
  if (const Mapping *m = findMapping(kLowerMulti, cp)) {{
    std::copy(m->out, m->out + m->count, out);
    return m->count;
  }}
  const LowerRun *it = std::upper_bound(
      std::begin(kLowerRuns), std::end(kLowerRuns), cp,
      [](uint32_t value, const LowerRun &r) {{ return value < r.first; }});
  out[0] = cp;
  if (it != std::begin(kLowerRuns)) {{
    const LowerRun &r = *std::prev(it);
    if (cp <= r.last && (cp - r.first) % r.stride == 0)
      out[0] = static_cast<uint32_t>(static_cast<int64_t>(cp) + r.delta);
  }}
  return 1;
}}

}} // namespace unicode
}} // namespace xfc
"""
    out.write_text(text, encoding="utf-8")
    print(f"wrote {out}: {len(other)} Cc/Cf/Cs/Co, {len(sep)} Z, {len(punct)} P, "
          f"{len(marks)} Mn ranges, {len(strip)} decompositions, "
          f"{len(runs)} lowercase runs, {len(multi)} longer lowercasings")
    return 0


if __name__ == "__main__":
    sys.exit(main())
