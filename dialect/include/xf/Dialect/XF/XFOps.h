//===- XFOps.h - Operations of the xf dialect -------------------*- C++ -*-===//
//
// Part of xfc. Declares the `xf` ops generated from XFOps.td.
//
//===----------------------------------------------------------------------===//
#ifndef XF_DIALECT_XF_XFOPS_H
#define XF_DIALECT_XF_XFOPS_H

#include "mlir/Bytecode/BytecodeOpInterface.h"
#include "mlir/IR/BuiltinTypes.h"
#include "mlir/IR/OpDefinition.h"
#include "mlir/Interfaces/InferTypeOpInterface.h"
#include "mlir/Interfaces/SideEffectInterfaces.h"
#include "xf/Dialect/XF/XFDialect.h"

#define GET_OP_CLASSES
#include "xf/Dialect/XF/XFOps.h.inc"

#endif // XF_DIALECT_XF_XFOPS_H
