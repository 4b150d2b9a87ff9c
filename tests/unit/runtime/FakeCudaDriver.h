//===- FakeCudaDriver.h - What the stand-in libcuda shows tests -*- C++ -*-===//
//
// Part of xfc. The launches the stand-in libcuda (FakeCudaDriver.cpp) hands
// to a test, shared by the library and the tests that load it: a function
// called through a pointer must have the very type of its definition
// (UBSan's function check), so both sides use these declarations, and the
// driver's own handle types (runtime/src/CudaDriver.h).
//
//===----------------------------------------------------------------------===//
#ifndef XFC_TESTS_FAKECUDADRIVER_H
#define XFC_TESTS_FAKECUDADRIVER_H

#include "CudaDriver.h"

/// A launch as the test sees it, during the call (the parameters point
/// into the caller's frame).
struct FakeLaunch {
  xfc::cuda::CUfunction function;
  unsigned grid[3], block[3], sharedBytes;
  xfc::cuda::CUstream stream;
  void **parameters;
};

/// xfc_fake_cuda_set_launch_hook(hook): every successful cuLaunchKernel
/// calls `hook` (and the attempts are counted again from 0).
using FakeLaunchHook = void (*)(const FakeLaunch *);
using FakeSetLaunchHook = void (*)(FakeLaunchHook);

#endif // XFC_TESTS_FAKECUDADRIVER_H
