//===- xfc-opt.cpp - mlir-opt with xf and the xfc pipelines -----*- C++ -*-===//
//
// Part of xfc. An mlir-opt with the `xf` dialect, every xfc pass and the
// xfc pipeline stages registered, so any compilation can be replayed pass by
// pass (`xfc-opt --xf-cpu-pipeline`, or one stage at a time).
//
//===----------------------------------------------------------------------===//
#include "xfc/Compiler/Pipelines.h"

#include "mlir/IR/DialectRegistry.h"
#include "mlir/Tools/mlir-opt/MlirOptMain.h"

int main(int argc, char **argv) {
  xfc::registerXFCPassesAndPipelines();
  mlir::DialectRegistry registry;
  xfc::registerXFCDialects(registry);
  return mlir::asMainReturnCode(mlir::MlirOptMain(
      argc, argv, "xfc optimizer driver: the xf dialect and xfc passes\n",
      registry));
}
