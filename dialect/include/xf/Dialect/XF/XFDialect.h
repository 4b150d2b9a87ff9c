//===- XFDialect.h - The xf dialect -----------------------------*- C++ -*-===//
//
// Part of xfc. Declares the `xf` dialect, its enums and attributes.
//
//===----------------------------------------------------------------------===//
#ifndef XF_DIALECT_XF_XFDIALECT_H
#define XF_DIALECT_XF_XFDIALECT_H

#include "xf/Analysis/AttentionPattern.h"

#include "mlir/IR/Attributes.h"
#include "mlir/IR/Dialect.h"

#include "xf/Dialect/XF/XFEnums.h.inc"

#define GET_ATTRDEF_CLASSES
#include "xf/Dialect/XF/XFAttrs.h.inc"

#include "xf/Dialect/XF/XFOpsDialect.h.inc"

#endif // XF_DIALECT_XF_XFDIALECT_H
