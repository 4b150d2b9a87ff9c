//===- Passes.td - Target code generation passes ------------*- tablegen -*-===//
//
// Part of xfc. Passes that shape linalg/vector IR for one kind of target:
// tiling for caches and registers, vectorization, threads.
//
//===----------------------------------------------------------------------===//
#ifndef XF_CODEGEN_PASSES_TD
#define XF_CODEGEN_PASSES_TD

include "mlir/Pass/PassBase.td"

//===----------------------------------------------------------------------===//
// CPU
//===----------------------------------------------------------------------===//

def XFCPUTileAndVectorize : Pass<"xf-cpu-tile-and-vectorize"> {
  let summary = "Tile contractions for threads, caches and registers; vectorize";
  let description = [{
    Every linalg contraction on tensors whose right-hand side is contiguous
    along `n` (a matmul `A[M,K] B[K,N]`, possibly batched) becomes:

    ```
    scf.forall (m, n) tiles of mc x nc        (threads)
      scf.for k by kc                         (the kc x nr panel of B in L1)
        scf.for n by nr, scf.for m by mr      (register tile)
          scf.for k by 1: vector.contract mr x 1 x nr (outer product FMAs)
    ```

    The register tile loops are peeled so the main tiles have static shapes;
    the accumulator read/write is hoisted out of the `k` loop so it lives in
    vector registers. Fill and broadcast producers of the accumulator are
    fused into the thread tile, and an elementwise consumer (bias,
    activation, residual epilogue) is computed on the thread tile while it
    is in cache; when the tile is static and its rows are a multiple of the
    vector width, one vector at a time, with erf and tanh as polynomials
    (no libm call per element). Remainder tiles of a static thread tile are
    vectorized too; those of a dynamic one (the last thread tile of a
    top-level contraction that the tile size does not divide) stay scalar.
    The loops are first reordered so that `n` is innermost (a contraction
    written `(m, n, k)` would otherwise be vectorized one scalar at a time).
    A contraction nested in an `scf.forall` (a kernel's own thread loop) is
    split along `m` and `n` so that all its thread tiles are static.

    The register tile is `mr x nr` with `nr` a multiple of the vector width
    (8 floats for AVX2, 16 for AVX-512) so that `mr * nr / width`
    accumulators plus the loaded row of `B` fit the 16 (AVX2) or 32
    (AVX-512) vector registers.
  }];
  let options = [
    Option<"vectorWidth", "vector-width", "int64_t", /*default=*/"8",
           "Floats per vector register (4: SSE, 8: AVX2, 16: AVX-512)">,
    Option<"parallel", "parallel", "bool", /*default=*/"true",
           "Use scf.forall for the thread tiles (scf.for otherwise)">,
  ];
  let dependentDialects = [
    "::mlir::scf::SCFDialect", "::mlir::vector::VectorDialect",
    "::mlir::affine::AffineDialect", "::mlir::arith::ArithDialect",
    "::mlir::tensor::TensorDialect", "::mlir::linalg::LinalgDialect"
  ];
}

def XFCPUForallToOpenMP : Pass<"xf-cpu-forall-to-openmp", "::mlir::ModuleOp"> {
  let summary = "Run each scf.forall on an OpenMP team, statically partitioned";
  let description = [{
    Each `scf.forall` on buffers becomes an `omp.parallel` region in which
    thread `t` of `T` runs the contiguous block
    `[t * ceil(N / T), min((t + 1) * ceil(N / T), N))` of the forall's N
    iterations (linearized, last dimension fastest) as an `scf.for`. The
    partition is a pure function of N and T, so results are reproducible
    run to run at a given thread count; no worksharing-loop runtime call
    (`__kmpc_for_static_init`, which some libomp builds make allocate on
    every call) is involved. The thread number and team size come from
    `omp_get_thread_num` / `omp_get_num_threads`; the team size is the
    calling thread's OpenMP thread count, which the runtime sets from the
    run context's options.
  }];
  let dependentDialects = [
    "::mlir::omp::OpenMPDialect", "::mlir::scf::SCFDialect",
    "::mlir::arith::ArithDialect", "::mlir::func::FuncDialect"
  ];
}

def XFFoldFillReads : Pass<"xf-fold-fill-reads"> {
  let summary = "Reads of a tensor filled with one value become broadcasts";
  let description = [{
    A `vector.transfer_read` (in bounds, unmasked) of a tensor produced by
    `linalg.fill`, directly or through `tensor.extract_slice`, reads the
    fill value: it becomes a `vector.broadcast` of it. These are the reads
    of GEMM tiles' zero accumulators. Besides saving the loads, this keeps
    kernels apart: canonicalization removes single-iteration tile loops
    (with 16-lane registers a small GEMM's whole tile is one iteration), CSE
    then merges the identical accumulator reads of same-shaped GEMMs into
    one value used by several kernels, and `xf-outline-kernels` cannot pass
    a vector from one kernel function to another; a broadcast of a constant
    it copies into each.
  }];
  let dependentDialects = ["::mlir::vector::VectorDialect"];
}

def XFHoistStaticAllocas : Pass<"xf-hoist-static-allocas"> {
  let summary = "Move fixed-size stack buffers out of loops, once per thread";
  let description = [{
    A `memref.alloca` of static shape inside a loop (a tile temporary of a
    parallel kernel, placed on the stack by `xf-plan-memory`) would grow
    the stack on every iteration once lowered: LLVM only frees an alloca
    when its function returns (scf.for counts as an allocation scope in
    MLIR, but nothing releases the stack per iteration). This pass moves
    each such alloca to the entry of the nearest enclosing `omp.parallel`
    region (one buffer per thread) or function. Every iteration overwrites
    the tile before reading it, so sharing the buffer across iterations of
    one thread is what the code meant.
  }];
  let dependentDialects = ["::mlir::memref::MemRefDialect"];
}

def XFLowerStridedCopies : Pass<"xf-lower-strided-copies"> {
  let summary = "Copy between non-contiguous memrefs with loops, not a library call";
  let description = [{
    The LLVM lowering of `memref.copy` is a `memcpy` when both sides are
    contiguous, and otherwise a call to MLIR's generic `memrefCopy` from
    the C runner utilities, which artifacts do not link (and which walks
    the descriptors at run time). A strided copy is left, for example, when
    a GEMM with a zero-padded last weight panel hands its real columns to
    the model's output buffer. This pass rewrites each copy whose source or
    target is not contiguous into `linalg.copy`, which becomes plain loops
    with the rest of linalg; contiguous copies stay `memcpy`s.
  }];
  let dependentDialects = ["::mlir::linalg::LinalgDialect"];
}

#endif // XF_CODEGEN_PASSES_TD
