//===- GpuModuleTest.cpp - Choosing and loading a model's device code -----===//
//
// Part of xfc. runtime/src/GpuModule.cpp through the stand-in libcuda
// (tests/unit/runtime/FakeCudaDriver.cpp, whose device's compute capability
// XFC_FAKE_CUDA_CC sets): the cubin when its chip's binary code runs on
// the device, else the PTX when the device and the driver can compile it,
// else an error saying which and what to compile for; every kernel
// resolved, or the module unloaded again; the driver's failures named.
// And checkGpuImage, without a driver: the PTX's directives and entry
// points, and the chip in a cubin's ELF header of either ABI version.
//
//===----------------------------------------------------------------------===//
#include "GpuModule.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <dlfcn.h>
#include <string>

namespace {

class GpuModule : public ::testing::Test {
protected:
  void SetUp() override {
    setenv("XFC_LIBCUDA", XFC_FAKE_CUDA_PATH, 1);
    unsetenv("XFC_FAKE_CUDA_FAIL");
    unsetenv("XFC_FAKE_CUDA_CC");
    std::string error;
    const xfc::cuda::Driver *loaded = xfc::cuda::driver(error);
    ASSERT_NE(loaded, nullptr) << error;
    driver = *loaded;
    driver.version = 12040;
    fake = dlopen(XFC_FAKE_CUDA_PATH, RTLD_NOW);
    ASSERT_NE(fake, nullptr) << dlerror();
    loadedImage = reinterpret_cast<const void *(*)()>(
        dlsym(fake, "xfc_fake_cuda_loaded_image"));
    loadedModules = reinterpret_cast<int (*)()>(
        dlsym(fake, "xfc_fake_cuda_loaded_modules"));
    ASSERT_TRUE(loadedImage && loadedModules);
    image.chip = "sm_90";
    image.ptxVersion = 78;
    image.ptx = ".version 7.8\n.target sm_90\n";
    image.cubin = "\x7f"
                  "ELF cubin";
    image.kernels = {"gemm", "layer_norm"};
  }
  void TearDown() override {
    unsetenv("XFC_FAKE_CUDA_CC");
    unsetenv("XFC_FAKE_CUDA_FAIL");
    if (fake)
      dlclose(fake);
  }

  /// Loads `image` on a device of compute capability `cc`; "" or the
  /// error. A loaded module is checked and unloaded.
  std::string load(const char *cc, bool *fromCubin = nullptr) {
    setenv("XFC_FAKE_CUDA_CC", cc, 1);
    int before = loadedModules();
    xfc::LoadedGpuModule module;
    std::string error;
    if (!xfc::loadGpuModule(&driver, 0, image, module, error)) {
      EXPECT_EQ(loadedModules(), before) << "a failed load left a module";
      return error.empty() ? "(no message)" : error;
    }
    EXPECT_EQ(module.functions.size(), image.kernels.size());
    EXPECT_EQ(loadedImage(),
              module.fromCubin ? image.cubin.c_str() : image.ptx.c_str());
    if (fromCubin)
      *fromCubin = module.fromCubin;
    xfc::unloadGpuModule(&driver, module);
    EXPECT_EQ(loadedModules(), before);
    return "";
  }

  xfc::cuda::Driver driver{};
  void *fake = nullptr;
  const void *(*loadedImage)() = nullptr;
  int (*loadedModules)() = nullptr;
  xfc::GpuImage image;
};

TEST_F(GpuModule, CubinWhereItRunsElsePtx) {
  bool fromCubin = false;
  EXPECT_EQ(load("9.0", &fromCubin), "");
  EXPECT_TRUE(fromCubin);
  // sm_80 binary code runs on 8.6, not on 9.0, where the PTX is compiled.
  image.chip = "sm_80";
  image.ptxVersion = 70;
  EXPECT_EQ(load("8.6", &fromCubin), "");
  EXPECT_TRUE(fromCubin);
  EXPECT_EQ(load("9.0", &fromCubin), "");
  EXPECT_FALSE(fromCubin);
  // Without a cubin (no ptxas at compile time): the PTX.
  image.cubin.clear();
  EXPECT_EQ(load("8.0", &fromCubin), "");
  EXPECT_FALSE(fromCubin);
}

TEST_F(GpuModule, DeviceTooOldOrOtherChip) {
  EXPECT_EQ(load("8.0"),
            "the model was compiled for sm_90 (compute capability 9.0 or "
            "later); the GPU (compute capability 8.0) cannot run it: compile "
            "with --gpu-arch=sm_80");
  // Architecture-specific code runs on its chip only.
  image.chip = "sm_90a";
  image.ptxVersion = 80;
  EXPECT_EQ(load("9.0"), "");
  EXPECT_EQ(load("10.0"),
            "the model was compiled for sm_90a (compute capability 9.0 "
            "only); the GPU (compute capability 10.0) cannot run it: compile "
            "with --gpu-arch=sm_90");
  // Chips before sm_80 have no xfc code at all.
  image.chip = "sm_80";
  image.ptxVersion = 70;
  EXPECT_EQ(load("7.5"),
            "the model was compiled for sm_80 (compute capability 8.0 or "
            "later); the GPU (compute capability 7.5) cannot run it: xfc's "
            "GPU code needs compute capability 8.0 or later");
  image.chip = "gfx90a";
  EXPECT_EQ(load("9.0"), "the device code's chip 'gfx90a' is not sm_XY or "
                         "sm_XYa");
}

TEST_F(GpuModule, DriverTooOldForThePtx) {
  image.cubin.clear();
  driver.version = 11070;
  EXPECT_EQ(load("9.0"), "the model's PTX is ISA version 7.8, which needs a "
                         "CUDA 11.8 driver or later; this driver is 11.7");
  driver.version = 11080;
  EXPECT_EQ(load("9.0"), "");
  EXPECT_EQ(xfc::minimumDriverForPtx(80), 12000);
  EXPECT_EQ(xfc::minimumDriverForPtx(99), 0);
  // A cubin that runs needs no PTX compilation.
  image.cubin = "\x7f"
                "ELF";
  driver.version = 11070;
  EXPECT_EQ(load("9.0"), "");
}

TEST_F(GpuModule, DriverFailuresAreNamed) {
  image.kernels = {"gemm", "missing"};
  EXPECT_EQ(load("9.0"), "cuModuleGetFunction failed: CUDA_ERROR_NOT_FOUND "
                         "(error 500) (kernel 'missing')");
  image.kernels = {"gemm"};
  setenv("XFC_FAKE_CUDA_FAIL", "cuModuleLoadData:218", 1);
  EXPECT_EQ(load("9.0"), "cuModuleLoadData failed: CUDA_ERROR_INVALID_PTX "
                         "(error 218) (the cubin for sm_90)");
  setenv("XFC_FAKE_CUDA_FAIL", "cuDeviceGetAttribute:101", 1);
  EXPECT_EQ(load("9.0"), "cuDeviceGetAttribute failed: "
                         "CUDA_ERROR_INVALID_DEVICE (invalid device ordinal)");
}

/// A 64-byte CUDA ELF header whose flags name sm_`sm` the way ELF ABI
/// version `abi` does: in their first byte up to 7, their second from 8.
std::string cubinHeader(int abi, int sm) {
  std::string header(64, '\0');
  header.replace(0, 4, "\177ELF");
  header[4] = 2;          // 64-bit
  header[5] = 1;          // little-endian
  header[8] = char(abi);  // EI_ABIVERSION
  header[18] = char(190); // EM_CUDA
  header[abi >= 8 ? 0x31 : 0x30] = char(sm);
  return header;
}

TEST(GpuImageCheck, DeviceCodeAgainstTheManifest) {
  xfc::GpuImage image;
  image.chip = "sm_90";
  image.ptxVersion = 78;
  image.ptx = "//\n.version 7.8\n.target sm_90\n.address_size 64\n"
              ".visible .entry k0(\n.param .u64 a\n)\n{ ret; }\n";
  image.kernels = {"k0"};
  std::string error;
  EXPECT_TRUE(xfc::checkGpuImage(image, error)) << error;
  // Cubins of both ELF ABI versions name the chip.
  for (int abi : {7, 8}) {
    image.cubin = cubinHeader(abi, 90);
    EXPECT_TRUE(xfc::checkGpuImage(image, error)) << abi << ": " << error;
    image.cubin = cubinHeader(abi, 80);
    EXPECT_FALSE(xfc::checkGpuImage(image, error));
    EXPECT_EQ(error, "the cubin is for sm_80, the manifest's chip is sm_90");
  }
  image.cubin = "not an ELF file";
  EXPECT_FALSE(xfc::checkGpuImage(image, error));
  EXPECT_EQ(error, "the cubin is not a 64-bit CUDA ELF file");
  image.cubin.clear();
  // sm_90a is not sm_90: the target must match to its end.
  image.chip = "sm_90a";
  EXPECT_FALSE(xfc::checkGpuImage(image, error));
  EXPECT_EQ(error, "the PTX does not declare '.target sm_90a', the "
                   "manifest's chip");
  image.chip = "sm_90";
  image.kernels = {"k0", "k1"};
  EXPECT_FALSE(xfc::checkGpuImage(image, error));
  EXPECT_EQ(error, "the PTX has no entry point for kernel 'k1', which the "
                   "host code launches");
}

} // namespace
