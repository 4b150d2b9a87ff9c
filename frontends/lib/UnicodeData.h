//===- UnicodeData.h - Unicode properties for text normalization -*- C++
//-*-===//
//
// Part of xfc.
//
// The Unicode properties the BERT text normalizer (WordPiece.cpp) needs,
// answered from the tables of UnicodeData.cpp, which
// scripts/gen-unicode-tables.py generates from Python's unicodedata. Code
// points are UTF-32 values up to U+10FFFF.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_FRONTENDS_UNICODEDATA_H
#define XFC_FRONTENDS_UNICODEDATA_H

#include <cstddef>
#include <cstdint>

namespace xfc {
namespace unicode {

/// The Unicode version of the tables, e.g. "14.0.0".
extern const char *const kVersion;

/// General category Cc, Cf, Cs or Co (control, format, surrogate, private
/// use); not Cn (unassigned).
bool isOther(uint32_t cp);
/// General category Z* (space, line and paragraph separators).
bool isSeparator(uint32_t cp);
/// General category P* (punctuation).
bool isPunctuation(uint32_t cp);
/// General category Mn (nonspacing marks: most accents).
bool isNonspacingMark(uint32_t cp);

/// Writes what stays of `cp` after canonical decomposition (NFD) and the
/// removal of nonspacing marks: 0 to 3 code points (`cp` itself when it
/// does not decompose). Hangul syllables are not handled here.
size_t decomposeWithoutMarks(uint32_t cp, uint32_t out[3]);

/// Writes the full lower-case mapping of `cp` alone (no context): 1 to 3
/// code points.
size_t toLower(uint32_t cp, uint32_t out[3]);

} // namespace unicode
} // namespace xfc

#endif // XFC_FRONTENDS_UNICODEDATA_H
