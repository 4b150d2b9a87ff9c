// RUN: xfc-opt %s -split-input-file -verify-diagnostics -xf-gpu-launch-to-runtime | FileCheck %s

// Two launches of one kernel and one of another: each a call through the
// run context's launch function (its first field) with the kernel's index,
// the grid, the block, the dynamic shared memory and the array of
// pointers to the arguments (a memref is its aligned pointer); the device
// code leaves the module.

// CHECK-LABEL: module attributes {xf.gpu_kernels = [@kernels::@scale, @kernels::@add]}
// CHECK-NOT: gpu.module
// CHECK-LABEL: func.func @host
// CHECK-SAME: (%[[CTX:.*]]: !llvm.ptr {xf.gpu_run}, %[[X:.*]]: memref<256xf32>, %[[Y:.*]]: memref<256xf32>)
// CHECK: %[[BASE:.*]] = memref.extract_aligned_pointer_as_index %[[X]]
// CHECK: %[[BASE64:.*]] = arith.index_cast %[[BASE]] : index to i64
// CHECK: %[[PTR:.*]] = llvm.inttoptr %[[BASE64]] : i64 to !llvm.ptr
// CHECK: llvm.store %[[PTR]], %[[SLOT0:.*]] : !llvm.ptr, !llvm.ptr
// CHECK: %[[P0:.*]] = llvm.getelementptr %[[PARAMS:.*]][0]
// CHECK: llvm.store %[[SLOT0]], %[[P0]]
// CHECK: llvm.store %{{.*}}, %[[SLOT1:.*]] : i64, !llvm.ptr
// CHECK: %[[P1:.*]] = llvm.getelementptr %[[PARAMS]][1]
// CHECK: llvm.store %[[SLOT1]], %[[P1]]
// CHECK: llvm.store %{{.*}}, %[[SLOT2:.*]] : f32, !llvm.ptr
// CHECK: %[[P2:.*]] = llvm.getelementptr %[[PARAMS]][2]
// CHECK: %[[FN:.*]] = llvm.load %[[CTX]] : !llvm.ptr -> !llvm.ptr
// CHECK: %[[K0:.*]] = llvm.mlir.constant(0 : i32) : i32
// CHECK: llvm.call %[[FN]](%[[CTX]], %[[K0]], %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %{{.*}}, %[[PARAMS]]) : !llvm.ptr, (!llvm.ptr, i32, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr) -> i32
// CHECK: llvm.call %{{.*}}(%[[CTX]], %{{.*}}, {{.*}}) : !llvm.ptr, (!llvm.ptr, i32, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr) -> i32
// CHECK: %[[K1:.*]] = llvm.mlir.constant(1 : i32) : i32
// CHECK: llvm.call %{{.*}}(%[[CTX]], %[[K1]], {{.*}}) : !llvm.ptr, (!llvm.ptr, i32, i64, i64, i64, i64, i64, i64, i32, !llvm.ptr) -> i32
// CHECK-NOT: gpu.launch_func
module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @scale(%x: memref<256xf32>, %n: index, %a: f32) kernel {
      %i = gpu.global_id x
      %in = arith.cmpi ult, %i, %n : index
      scf.if %in {
        %v = memref.load %x[%i] : memref<256xf32>
        %r = arith.mulf %v, %a : f32
        memref.store %r, %x[%i] : memref<256xf32>
      }
      gpu.return
    }
    gpu.func @add(%x: memref<256xf32>, %y: memref<256xf32>) kernel {
      %i = gpu.global_id x
      %v = memref.load %x[%i] : memref<256xf32>
      %w = memref.load %y[%i] : memref<256xf32>
      %r = arith.addf %v, %w : f32
      memref.store %r, %y[%i] : memref<256xf32>
      gpu.return
    }
  }
  func.func @host(%run: !llvm.ptr {xf.gpu_run}, %x: memref<256xf32>,
                  %y: memref<256xf32>) {
    %c1 = arith.constant 1 : index
    %c2 = arith.constant 2 : index
    %c128 = arith.constant 128 : index
    %c256 = arith.constant 256 : index
    %a = arith.constant 2.0 : f32
    %smem = arith.constant 1024 : i32
    gpu.launch_func @kernels::@scale blocks in (%c2, %c1, %c1)
        threads in (%c128, %c1, %c1) dynamic_shared_memory_size %smem
        args(%x : memref<256xf32>, %c256 : index, %a : f32)
    gpu.launch_func @kernels::@scale blocks in (%c2, %c1, %c1)
        threads in (%c128, %c1, %c1)
        args(%y : memref<256xf32>, %c256 : index, %a : f32)
    gpu.launch_func @kernels::@add blocks in (%c2, %c1, %c1)
        threads in (%c128, %c1, %c1)
        args(%x : memref<256xf32>, %y : memref<256xf32>)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @no_run_context() {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{xf-gpu-launch-to-runtime: cannot lower the launch of @kernels::@k: the function launching it has no !llvm.ptr argument marked xf.gpu_run (the run context)}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @asynchronous(%run: !llvm.ptr {xf.gpu_run}) {
    %c1 = arith.constant 1 : index
    %t = gpu.wait async
    // expected-error @+1 {{xf-gpu-launch-to-runtime: cannot lower the launch of @kernels::@k: it is asynchronous (the runtime orders launches on the run context's stream)}}
    %u = gpu.launch_func async [%t] @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%x: memref<?xf32>) kernel {
      gpu.return
    }
  }
  func.func @dynamic(%run: !llvm.ptr {xf.gpu_run}, %x: memref<?xf32>) {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{xf-gpu-launch-to-runtime: cannot lower the launch of @kernels::@k: argument of type memref<?xf32> is not a static identity-layout memref}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%x : memref<?xf32>)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k() kernel {
      gpu.return
    }
  }
  func.func @cluster(%run: !llvm.ptr {xf.gpu_run}) {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{xf-gpu-launch-to-runtime: cannot lower the launch of @kernels::@k: thread block clusters are not supported}}
    gpu.launch_func @kernels::@k clusters in (%c1, %c1, %c1) blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1)
    return
  }
}

// -----

module attributes {gpu.container_module} {
  gpu.module @kernels {
    gpu.func @k(%v: vector<4xf32>) kernel {
      gpu.return
    }
  }
  func.func @vector_argument(%run: !llvm.ptr {xf.gpu_run}, %v: vector<4xf32>) {
    %c1 = arith.constant 1 : index
    // expected-error @+1 {{xf-gpu-launch-to-runtime: cannot lower the launch of @kernels::@k: argument of type vector<4xf32> is neither a memref nor a scalar}}
    gpu.launch_func @kernels::@k blocks in (%c1, %c1, %c1) threads in (%c1, %c1, %c1) args(%v : vector<4xf32>)
    return
  }
}
