//===- GpuModule.cpp - A model's device code, checked and loaded *- C++ -*-===//
//
// Part of xfc. Implements GpuModule.h.
//
//===----------------------------------------------------------------------===//
#include "GpuModule.h"

#include <cctype>

#include <cstdio>

namespace xfc {
namespace {

/// "sm_XY" or "sm_XYa": the compute capability X.Y, and whether the code
/// uses the chip's architecture-specific features (runs on X.Y only).
bool parseChip(const std::string &chip, int &major, int &minor,
               bool &specific) {
  if (chip.size() < 5 || chip.compare(0, 3, "sm_") != 0)
    return false;
  std::string digits = chip.substr(3);
  specific = !digits.empty() && digits.back() == 'a';
  if (specific)
    digits.pop_back();
  if (digits.size() < 2)
    return false;
  for (char c : digits)
    if (c < '0' || c > '9')
      return false;
  major = std::stoi(digits.substr(0, digits.size() - 1));
  minor = digits.back() - '0';
  return true;
}

std::string capabilityText(int major, int minor) {
  return std::to_string(major) + "." + std::to_string(minor);
}

std::string driverText(int version) {
  return std::to_string(version / 1000) + "." +
         std::to_string(version % 1000 / 10);
}

/// parseChip of the image's chip, or false with `error` saying it is not
/// one.
bool parseImageChip(const GpuImage &image, int &major, int &minor,
                    bool &specific, std::string &error) {
  if (parseChip(image.chip, major, minor, specific))
    return true;
  error = "the device code's chip '" + image.chip + "' is not sm_XY or sm_XYa";
  return false;
}

} // namespace

int minimumDriverForPtx(int ptxVersion) {
  // PTX ISA x.y came with CUDA (the driver of) the release below.
  struct Release {
    int ptx, driver;
  } releases[] = {{70, 11000}, {71, 11010}, {72, 11020}, {73, 11030},
                  {74, 11040}, {75, 11050}, {76, 11060}, {77, 11070},
                  {78, 11080}, {80, 12000}, {81, 12010}, {82, 12020},
                  {83, 12030}, {84, 12040}, {85, 12050}, {86, 12070},
                  {87, 12080}, {88, 12090}};
  for (const Release &r : releases)
    if (r.ptx == ptxVersion)
      return r.driver;
  return 0;
}

bool checkGpuImage(const GpuImage &image, std::string &error) {
  int chipMajor = 0, chipMinor = 0;
  bool specific = false;
  if (!parseImageChip(image, chipMajor, chipMinor, specific, error))
    return false;
  // The PTX: its version and target directives, and an entry point for
  // every kernel the host code launches.
  const std::string &ptx = image.ptx;
  std::string version = ".version " + std::to_string(image.ptxVersion / 10) +
                        "." + std::to_string(image.ptxVersion % 10) + "\n";
  if (ptx.find(version) == std::string::npos) {
    error = "the PTX does not declare '" +
            version.substr(0, version.size() - 1) + "', the manifest's ISA";
    return false;
  }
  std::string target = ".target " + image.chip;
  size_t at = ptx.find(target);
  if (at == std::string::npos ||
      std::isalnum(static_cast<unsigned char>(ptx[at + target.size()]))) {
    error = "the PTX does not declare '" + target + "', the manifest's chip";
    return false;
  }
  for (const std::string &kernel : image.kernels)
    if (ptx.find(".entry " + kernel + "(") == std::string::npos) {
      error = "the PTX has no entry point for kernel '" + kernel +
              "', which the host code launches";
      return false;
    }
  // The cubin: a 64-bit little-endian CUDA ELF file (EM_CUDA, 190) for
  // the chip. The ELF flags hold the chip's number in their first byte up
  // to ABI version 7 (ptxas before CUDA 12.8), in their second from 8.
  const std::string &cubin = image.cubin;
  if (cubin.empty())
    return true;
  auto byte = [&](size_t i) { return static_cast<unsigned char>(cubin[i]); };
  if (cubin.size() < 64 || cubin.compare(0, 4, "\177ELF") != 0 ||
      byte(4) != 2 || byte(5) != 1 || (byte(18) | byte(19) << 8) != 190) {
    error = "the cubin is not a 64-bit CUDA ELF file";
    return false;
  }
  int sm = byte(8) >= 8 ? byte(0x31) : byte(0x30);
  if (sm != chipMajor * 10 + chipMinor) {
    error = "the cubin is for sm_" + std::to_string(sm) +
            ", the manifest's "
            "chip is " +
            image.chip;
    return false;
  }
  return true;
}

bool loadGpuModule(const cuda::Driver *driver, cuda::CUdevice device,
                   const GpuImage &image, LoadedGpuModule &out,
                   std::string &error) {
  out = LoadedGpuModule();
  int chipMajor = 0, chipMinor = 0;
  bool specific = false;
  if (!parseImageChip(image, chipMajor, chipMinor, specific, error))
    return false;
  int major = 0, minor = 0;
  if (cuda::CUresult r = driver->cuDeviceGetAttribute(
          &major, cuda::ComputeCapabilityMajor, device)) {
    error = cuda::describeFailure(driver, "cuDeviceGetAttribute", r);
    return false;
  }
  if (cuda::CUresult r = driver->cuDeviceGetAttribute(
          &minor, cuda::ComputeCapabilityMinor, device)) {
    error = cuda::describeFailure(driver, "cuDeviceGetAttribute", r);
    return false;
  }
  std::string deviceText =
      "the GPU (compute capability " + capabilityText(major, minor) + ")";
  const bool exact = major == chipMajor && minor == chipMinor;
  // Binary code runs within its major version on the same or a later
  // minor one; architecture-specific code (sm_90a) on its chip only.
  const bool cubinRuns =
      !image.cubin.empty() &&
      (specific ? exact : major == chipMajor && minor >= chipMinor);
  // PTX is compiled by the driver for any later chip, except
  // architecture-specific PTX.
  const bool ptxRuns = specific ? exact
                                : (major > chipMajor ||
                                   (major == chipMajor && minor >= chipMinor));
  const int needed = minimumDriverForPtx(image.ptxVersion);
  const bool driverCompilesPtx = needed > 0 && driver->version >= needed;

  const std::string *code = nullptr;
  if (cubinRuns) {
    code = &image.cubin;
    out.fromCubin = true;
  } else if (!ptxRuns) {
    error = "the model was compiled for " + image.chip +
            " (compute capability " + capabilityText(chipMajor, chipMinor) +
            (specific ? " only" : " or later") + "); " + deviceText +
            " cannot run it: " +
            (major < 8 ? std::string("xfc's GPU code needs compute capability "
                                     "8.0 or later")
             : major == 8 ? std::string("compile with --gpu-arch=sm_80")
                          : "compile with --gpu-arch=sm_90");
    return false;
  } else if (!driverCompilesPtx) {
    error = "the model's PTX is ISA version " +
            std::to_string(image.ptxVersion / 10) + "." +
            std::to_string(image.ptxVersion % 10) + ", which needs a CUDA " +
            (needed ? driverText(needed) : std::string("(unknown)")) +
            " driver or later; this driver is " + driverText(driver->version) +
            (image.cubin.empty()
                 ? ""
                 : " (and the model's " + image.chip +
                       " cubin does not run on " + deviceText + ")");
    return false;
  } else {
    code = &image.ptx;
  }
  if (cuda::CUresult r = driver->cuModuleLoadData(&out.module, code->c_str())) {
    error = cuda::describeFailure(driver, "cuModuleLoadData", r) + " (the " +
            (out.fromCubin ? "cubin" : "PTX") + " for " + image.chip + ")";
    out.module = nullptr;
    return false;
  }
  for (const std::string &kernel : image.kernels) {
    cuda::CUfunction function = nullptr;
    if (cuda::CUresult r = driver->cuModuleGetFunction(&function, out.module,
                                                       kernel.c_str())) {
      error = cuda::describeFailure(driver, "cuModuleGetFunction", r) +
              " (kernel '" + kernel + "')";
      unloadGpuModule(driver, out);
      return false;
    }
    out.functions.push_back(function);
  }
  return true;
}

void unloadGpuModule(const cuda::Driver *driver, LoadedGpuModule &module) {
  if (module.module)
    driver->cuModuleUnload(module.module);
  module = LoadedGpuModule();
}

} // namespace xfc
