//===- LinformerProjection.h - Linformer's E K and F V ----------*- C++ -*-===//
//
// Part of xfc. Private to convert-xf-to-linalg: the lowering of
// `xf.linformer_projection` (LinformerProjection.cpp).
//
//===----------------------------------------------------------------------===//
#ifndef XF_CONVERSION_XFTOLINALG_LINFORMERPROJECTION_H
#define XF_CONVERSION_XFTOLINALG_LINFORMERPROJECTION_H

namespace mlir {
class RewritePatternSet;
namespace xf {

/// Adds the pattern lowering `xf.linformer_projection` to linalg.
void populateLinformerProjectionPatterns(RewritePatternSet &patterns);

} // namespace xf
} // namespace mlir

#endif // XF_CONVERSION_XFTOLINALG_LINFORMERPROJECTION_H
