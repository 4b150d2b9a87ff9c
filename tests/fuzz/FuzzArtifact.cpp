//===- FuzzArtifact.cpp - Fuzz target: opening an artifact folder --------===//
//
// Part of xfc. The input is a manifest.json text, then a line
// "==== weights ====", then the bytes of the weights file. Both are written
// into a scratch artifact folder and opened with xfc_model_open, the public
// C API: manifest parsing, the weights mapping and the check of every
// manifest weight against the safetensors header (names, dtypes, shapes,
// byte ranges, alignment).
//
// The folder never holds the compiled library, so every open ends before
// anything is dlopen'ed: fuzzed bytes are never loaded as code. The target
// also skips any manifest whose "library" names a file it wrote. The open
// therefore must fail, and the contract checked is that it fails with a
// status (a documented code and a message naming the artifact), not a crash.
// A manifest and weights file that pass every check stop at "compiled
// library ... not found"; the seeds (corpus/artifact/) are such pairs from
// `xfc compile`.
//
//===----------------------------------------------------------------------===//
#include "FuzzTarget.h"
#ifdef XFC_LIBFUZZER
#include "JsonMutator.h"
#endif

#include "xfc/runtime.h"

#include <nlohmann/json.hpp>

#include <string>
#include <string_view>

namespace {

constexpr const char *kTarget = "fuzz_artifact";

/// The name a member of the manifest gives a file, if it is a plain string;
/// "" otherwise (the runtime rejects such a manifest before using it).
std::string fileNameMember(const nlohmann::json &manifest, const char *key) {
  if (!manifest.is_object())
    return "";
  auto it = manifest.find(key);
  if (it == manifest.end() || !it->is_string())
    return "";
  return it->get<std::string>();
}

/// A name the target may create inside the scratch folder.
bool isWritableName(const std::string &name) {
  return !name.empty() && name.size() < 200 && name != "." && name != ".." &&
         name != "manifest.json" &&
         name.find_first_of(std::string("/\\\0", 3)) == std::string::npos;
}

} // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
  using xfc::fuzz::check;
  std::string_view manifestText, weightsBytes;
  xfc::fuzz::splitSections(
      std::string_view(reinterpret_cast<const char *>(data), size),
      manifestText, weightsBytes);

  // The weights go where the manifest says when that is a plain name, so a
  // mutated name is still found; the library is never provided.
  nlohmann::json peek = nlohmann::json::parse(manifestText, nullptr,
                                              /*allow_exceptions=*/false);
  std::string weightsName = fileNameMember(peek, "weights_file");
  if (!isWritableName(weightsName))
    weightsName = "weights.safetensors";
  std::string library = fileNameMember(peek, "library");
  if (library == "manifest.json" || library == weightsName)
    return 0;

  xfc::fuzz::ScratchDir &scratch = xfc::fuzz::ScratchDir::get();
  scratch.clear();
  scratch.write("manifest.json", manifestText);
  scratch.write(weightsName, weightsBytes);

  xfc_model_options options;
  xfc_model_options_initialize(&options);
  // The fuzzed target features would otherwise stop most inputs at the CPU
  // check, before the weights are looked at.
  options.skip_cpu_check = 1;
  xfc_model *model = nullptr;
  xfc_status status = xfc_model_open(scratch.path().c_str(), &options, &model);
  if (!status) {
    xfc_model_destroy(model);
    xfc::fuzz::fail(kTarget, "an artifact without its library was opened");
  }
  xfc_status_code code = xfc_status_get_code(status);
  std::string message = xfc_status_get_message(status);
  xfc_status_free(status);
  xfc::fuzz::note(kTarget, message);
  check(model == nullptr, kTarget, "a failed open returned a model");
  check(code == XFC_INVALID_ARTIFACT || code == XFC_UNSUPPORTED ||
            code == XFC_NOT_FOUND || code == XFC_IO_ERROR,
        kTarget,
        "unexpected status code " + std::to_string(code) + ": " + message);
  check(message.rfind("artifact " + scratch.path() + ": ", 0) == 0, kTarget,
        "a message that does not name the artifact: " + message);
  return 0;
}

#ifdef XFC_LIBFUZZER
extern "C" size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size,
                                          size_t maxSize, unsigned seed) {
  return xfc::fuzz::mutateInput(data, size, maxSize, seed,
                                xfc::fuzz::InputFormat::Artifact);
}
#endif
