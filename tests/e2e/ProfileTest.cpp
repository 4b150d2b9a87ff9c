//===- ProfileTest.cpp - Kernel symbols and per-kernel profiles -----------===//
//
// Part of xfc. Compiles the bundled example, then checks what
// xf-outline-kernels promises: every kernel of the manifest is a function
// of model.so under its manifest symbol (read from the ELF symbol table:
// the symbols are local, so dlsym cannot see them, but nm and perf do),
// a profiling context counts one call per kernel per run with ticks that
// add up to most of the measured time, and profiling changes no output
// bit.
//
//===----------------------------------------------------------------------===//
#include "ExampleModel.h"
#include "ScratchDir.h"

#include "xfc/Compiler/Compiler.h"
#include "xfc/runtime.h"

#include <gtest/gtest.h>

#include <elf.h>

#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

namespace xfc::test {
namespace {

/// The symbols of an ELF64 file's .symtab, name -> binding (STB_LOCAL,
/// STB_GLOBAL, ...). False with `why` when the file cannot be read as a
/// little-endian ELF64 file with a symbol table.
bool readSymbolTable(const std::string &path,
                     std::map<std::string, unsigned> &symbols,
                     std::string &why) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream buffer;
  buffer << in.rdbuf();
  std::string bytes = buffer.str();
  auto fits = [&](uint64_t offset, uint64_t size) {
    return offset <= bytes.size() && size <= bytes.size() - offset;
  };
  Elf64_Ehdr header;
  if (!fits(0, sizeof(header))) {
    why = path + " is too short for an ELF header";
    return false;
  }
  std::memcpy(&header, bytes.data(), sizeof(header));
  if (std::memcmp(header.e_ident, ELFMAG, SELFMAG) != 0 ||
      header.e_ident[EI_CLASS] != ELFCLASS64 ||
      header.e_ident[EI_DATA] != ELFDATA2LSB) {
    why = path + " is not a little-endian ELF64 file";
    return false;
  }
  std::vector<Elf64_Shdr> sections(header.e_shnum);
  if (!fits(header.e_shoff, uint64_t(header.e_shnum) * sizeof(Elf64_Shdr))) {
    why = "section headers outside the file";
    return false;
  }
  std::memcpy(sections.data(), bytes.data() + header.e_shoff,
              sections.size() * sizeof(Elf64_Shdr));
  for (const Elf64_Shdr &section : sections) {
    if (section.sh_type != SHT_SYMTAB)
      continue;
    if (section.sh_link >= sections.size()) {
      why = ".symtab links to no string table";
      return false;
    }
    const Elf64_Shdr &strings = sections[section.sh_link];
    if (!fits(section.sh_offset, section.sh_size) ||
        !fits(strings.sh_offset, strings.sh_size)) {
      why = ".symtab or its strings outside the file";
      return false;
    }
    for (uint64_t at = 0; at + sizeof(Elf64_Sym) <= section.sh_size;
         at += sizeof(Elf64_Sym)) {
      Elf64_Sym symbol;
      std::memcpy(&symbol, bytes.data() + section.sh_offset + at,
                  sizeof(symbol));
      if (symbol.st_name >= strings.sh_size)
        continue;
      const char *name = bytes.data() + strings.sh_offset + symbol.st_name;
      size_t length = strnlen(name, strings.sh_size - symbol.st_name);
      symbols[std::string(name, length)] = ELF64_ST_BIND(symbol.st_info);
    }
    return true;
  }
  why = path + " has no .symtab (stripped)";
  return false;
}

class ProfileTest : public ::testing::Test {
protected:
  void SetUp() override {
    dir = std::make_unique<ScratchDir>(
        std::string("profile_") +
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    ShapeOptions shapes;
    shapes.seqLen = 32;
    CompileReport report;
    std::string error;
    model = compileAndOpenExample(dir->path(), shapes, report, error);
    ASSERT_NE(model, nullptr) << error;
    inputs = exampleInputs(model, 32, [](size_t j, const xfc_tensor_info &) {
      return static_cast<int32_t>(j % 2);
    });
    ASSERT_FALSE(inputs.empty());
    for (std::vector<int32_t> &v : inputs)
      inBuffers.push_back({v.data(), v.size() * sizeof(int32_t)});
  }
  void TearDown() override { xfc_model_destroy(model); }

  /// Runs `runs` times through a new context; returns the output of the
  /// last run and, with profiling, the profile.
  std::vector<float> runContext(bool profiling, int runs, xfc_profile *profile,
                                std::vector<xfc_kernel_profile> *kernels) {
    xfc_context_options options;
    xfc_context_options_initialize(&options);
    options.enable_profiling = profiling ? 1 : 0;
    xfc_context *context = nullptr;
    xfc_status status = xfc_context_create(model, &options, &context);
    EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
    if (status) {
      xfc_status_free(status);
      return {};
    }
    xfc_tensor_info info;
    EXPECT_EQ(xfc_model_output_info(model, 0, &info), nullptr);
    std::vector<float> output(numElements(info));
    xfc_buffer out{output.data(), output.size() * sizeof(float)};
    for (int r = 0; r < runs; ++r) {
      status =
          xfc_context_run(context, inBuffers.data(), inBuffers.size(), &out, 1);
      EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
      xfc_status_free(status);
    }
    if (profiling) {
      kernels->resize(xfc_model_num_kernels(model));
      status = xfc_context_get_profile(context, profile, kernels->data(),
                                       kernels->size());
      EXPECT_EQ(status, nullptr) << xfc_status_get_message(status);
      xfc_status_free(status);
    }
    xfc_context_destroy(context);
    return output;
  }

  std::unique_ptr<ScratchDir> dir;
  xfc_model *model = nullptr;
  std::vector<std::vector<int32_t>> inputs;
  std::vector<xfc_buffer> inBuffers;
};

TEST_F(ProfileTest, EveryKernelIsCountedAndTimed) {
  constexpr int kRuns = 5;
  std::vector<float> plain = runContext(false, kRuns, nullptr, nullptr);
  xfc_profile profile;
  std::vector<xfc_kernel_profile> kernels;
  std::vector<float> profiled = runContext(true, kRuns, &profile, &kernels);
  ASSERT_FALSE(plain.empty());
  ASSERT_EQ(plain.size(), profiled.size());
  EXPECT_EQ(
      std::memcmp(plain.data(), profiled.data(), plain.size() * sizeof(float)),
      0)
      << "profiling changed the output";

  ASSERT_GT(kernels.size(), 10u) << "two encoder layers and the embeddings";
  EXPECT_EQ(profile.runs, static_cast<uint64_t>(kRuns));
  EXPECT_GT(profile.ticks, 0u);
  EXPECT_GT(profile.wall_ns, 0.0);
  bool sawQKV = false;
  double sum = 0;
  for (const xfc_kernel_profile &k : kernels) {
    // A chunked kernel is one call a run too, but allow multiples.
    EXPECT_GE(k.calls, static_cast<uint64_t>(kRuns)) << k.kernel.name;
    EXPECT_EQ(k.calls % kRuns, 0u) << k.kernel.name;
    EXPECT_GT(k.ticks, 0u) << k.kernel.name;
    EXPECT_GT(k.total_ns, 0.0) << k.kernel.name;
    EXPECT_GT(k.kernel.num_nodes, 0u) << k.kernel.name;
    sawQKV |=
        std::strcmp(k.kernel.name, "encoder.layers.0.self_attn.q+k+v") == 0;
    sum += k.total_ns;
  }
  EXPECT_TRUE(sawQKV) << "kernels are named after their spec nodes";
  EXPECT_DOUBLE_EQ(sum, profile.kernel_ns);
  // The kernels run inside the measured time, and are most of it: what is
  // left is the serial glue between them.
  EXPECT_LE(profile.kernel_ns, profile.wall_ns * (1 + 1e-9));
  EXPECT_GE(profile.kernel_ns, profile.wall_ns / 2);
}

TEST_F(ProfileTest, KernelSymbolsAreInTheLibrary) {
  std::map<std::string, unsigned> symbols;
  std::string why;
  if (!readSymbolTable(dir->path() + "/artifact/model.so", symbols, why))
    GTEST_SKIP() << "cannot read the symbol table: " << why;
  size_t count = xfc_model_num_kernels(model);
  ASSERT_GT(count, 0u);
  size_t parallel = 0;
  for (size_t k = 0; k < count; ++k) {
    xfc_kernel_info info;
    ASSERT_EQ(xfc_model_kernel_info(model, k, &info), nullptr);
    auto it = symbols.find(info.symbol);
    ASSERT_NE(it, symbols.end()) << info.symbol << " is not in model.so";
    // Local: listed by nm and perf, not exported to other libraries.
    EXPECT_EQ(it->second, unsigned(STB_LOCAL)) << info.symbol;
    // OpenMP outlining names parallel regions after their kernel.
    parallel += symbols.count(std::string(info.symbol) + "..omp_par");
  }
  EXPECT_GT(parallel, 0u) << "no <kernel>..omp_par symbol";
  EXPECT_EQ(symbols.count("xf_model"), 1u);
}

} // namespace
} // namespace xfc::test
