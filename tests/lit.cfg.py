# lit configuration for xfc: *.mlir and *.test files under tests/, with the
# xfc tools and LLVM's FileCheck/not on PATH.
import os
import lit.formats

config.name = "xfc"
config.test_format = lit.formats.ShTest(execute_external=False)
config.suffixes = [".mlir", ".test"]
config.test_source_root = os.path.join(config.xfc_source_dir, "tests")
config.test_exec_root = os.path.join(config.xfc_binary_dir, "tests", "lit-out")
config.excludes = ["unit", "e2e", "lit.cfg.py", "Inputs"]

path = os.pathsep.join([os.path.join(config.xfc_binary_dir, "bin"),
                        config.llvm_tools_dir, config.environment.get("PATH", os.environ["PATH"])])
config.environment["PATH"] = path
config.substitutions.append(("%xfc_src", config.xfc_source_dir))
config.substitutions.append(("%xfc_lib", os.path.join(config.xfc_binary_dir, "lib")))
config.substitutions.append(("%models", os.path.join(config.xfc_source_dir, "models")))

# The AddressSanitizer build: a Python process cannot load its runtime
# library (the sanitizer's runtime must come first in a process), so tests
# that go through the Python package are unsupported there.
if getattr(config, "xfc_sanitize", "OFF").upper() in ("ON", "1", "TRUE", "YES"):
    config.available_features.add("sanitize")
