//===- Status.h - Statuses for the runtime's other files ---------*- C++
//-*-===//
//
// Part of xfc. The status objects of the C API are defined in Runtime.cpp;
// the other files of the runtime that return statuses make them here.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_STATUS_H
#define XFC_RUNTIME_STATUS_H

#include "xfc/runtime.h"

#include <string>

namespace xfc {

/// A status with `code` and `message` (NULL for XFC_OK); never fails (a
/// status that cannot be allocated is a shared "out of memory" one).
xfc_status makeRuntimeStatus(xfc_status_code code, std::string message);

} // namespace xfc

#endif // XFC_RUNTIME_STATUS_H
