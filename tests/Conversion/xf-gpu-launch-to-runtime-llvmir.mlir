// RUN: xfc-opt %s -xf-gpu-launch-to-runtime -finalize-memref-to-llvm -convert-arith-to-llvm -convert-func-to-llvm=use-bare-ptr-memref-call-conv -reconcile-unrealized-casts | mlir-translate --mlir-to-llvmir | FileCheck %s
// RUN: xfc-opt %s --pass-pipeline="builtin.module(nvvm-attach-target{chip=sm_80},gpu.module(convert-gpu-to-nvvm),gpu-module-to-binary{format=isa},finalize-memref-to-llvm,convert-arith-to-llvm,gpu-to-llvm,convert-func-to-llvm,reconcile-unrealized-casts)" | mlir-translate --mlir-to-llvmir | FileCheck %s --check-prefix=UPSTREAM

// The host code of a launch, down to LLVM IR: one indirect call through the
// run context's first field, and none of what MLIR's own host lowering
// adds (a global constructor loading the module when the library is
// opened, a stream created and destroyed around each launch, the mgpu*
// wrappers that drop the driver's errors). The second RUN line shows
// that MLIR's own lowering of the same module has them:
// UPSTREAM: @llvm.global_ctors = appending global
// UPSTREAM: call ptr @mgpuStreamCreate()
// UPSTREAM: call void @mgpuLaunchKernel(
// UPSTREAM: call void @mgpuStreamDestroy(

// CHECK-NOT: llvm.global_ctors
// CHECK-NOT: mgpu
// CHECK-LABEL: define void @host(ptr %0, ptr %1)
// CHECK: %[[FN:.*]] = load ptr, ptr %0
// CHECK: %{{.*}} = call i32 %[[FN]](ptr %0, i32 0, i64 4, i64 1, i64 1, i64 64, i64 1, i64 1, i32 0, ptr %{{.*}})
// CHECK-NOT: llvm.global_ctors
// CHECK-NOT: mgpu
// CHECK-NOT: cuStream
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @double(%x: memref<256xf32>) kernel {
      %i = gpu.global_id x
      %v = memref.load %x[%i] : memref<256xf32>
      %r = arith.addf %v, %v : f32
      memref.store %r, %x[%i] : memref<256xf32>
      gpu.return
    }
  }
  func.func @host(%run: !llvm.ptr {xf.gpu_run}, %x: memref<256xf32>) {
    %c1 = arith.constant 1 : index
    %c4 = arith.constant 4 : index
    %c64 = arith.constant 64 : index
    gpu.launch_func @kernels::@double blocks in (%c4, %c1, %c1)
        threads in (%c64, %c1, %c1) args(%x : memref<256xf32>)
    return
  }
}
