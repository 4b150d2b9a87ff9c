//===- Status.h - The runtime's statuses, shared by its C API files -*- C++ -*-===//
//
// Part of xfc. What an xfc_status is, how the runtime makes one, and the
// guard every C API entry point runs its body in, so that no C++ exception
// crosses the API.
//
//===----------------------------------------------------------------------===//
#ifndef XFC_RUNTIME_STATUS_H
#define XFC_RUNTIME_STATUS_H

#include "xfc/runtime.h"

#include <exception>
#include <new>
#include <string>

struct xfc_status_s {
  xfc_status_code code;
  std::string message;
};

namespace xfc {

/// Returned when a status itself cannot be allocated; never freed.
xfc_status outOfMemoryStatus();

/// A status with `code` and `message`; null for XFC_OK.
xfc_status makeStatus(xfc_status_code code, std::string message);

/// Runs `body`, turning escaped exceptions into XFC_INTERNAL statuses.
template <typename Body> xfc_status guarded(const char *function, Body body) {
  try {
    return body();
  } catch (const std::bad_alloc &) {
    return outOfMemoryStatus();
  } catch (const std::exception &e) {
    return makeStatus(XFC_INTERNAL,
                      std::string(function) + ": internal error: " + e.what());
  } catch (...) {
    return makeStatus(XFC_INTERNAL,
                      std::string(function) + ": unknown internal error");
  }
}

} // namespace xfc

#endif // XFC_RUNTIME_STATUS_H
