//===- XFDialect.cpp - The xf dialect ---------------------------*- C++ -*-===//
//
// Part of xfc. Registers the `xf` dialect's ops and attributes.
//
//===----------------------------------------------------------------------===//
#include "xf/Dialect/XF/XFDialect.h"
#include "xf/Dialect/XF/XFOps.h"

#include "mlir/IR/Builders.h"
#include "mlir/IR/DialectImplementation.h"
#include "llvm/ADT/TypeSwitch.h"

using namespace mlir;
using namespace mlir::xf;

#include "xf/Dialect/XF/XFEnums.cpp.inc"
#include "xf/Dialect/XF/XFOpsDialect.cpp.inc"

#define GET_ATTRDEF_CLASSES
#include "xf/Dialect/XF/XFAttrs.cpp.inc"

//===----------------------------------------------------------------------===//
// AttentionPatternAttr
//===----------------------------------------------------------------------===//

LogicalResult
AttentionPatternAttr::verify(function_ref<InFlightDiagnostic()> emitError,
                             StringRef text) {
  PatternGroups groups;
  std::string error;
  if (!parsePatternText(text.str(), groups, error))
    return emitError() << "malformed attention pattern \"" << text
                       << "\": " << error;
  return success();
}

PatternGroups AttentionPatternAttr::getGroups() const {
  PatternGroups groups;
  std::string error;
  parsePatternText(getText().str(), groups, error);
  return groups;
}

void XFDialect::initialize() {
  addAttributes<
#define GET_ATTRDEF_LIST
#include "xf/Dialect/XF/XFAttrs.cpp.inc"
      >();
  addOperations<
#define GET_OP_LIST
#include "xf/Dialect/XF/XFOps.cpp.inc"
      >();
}
