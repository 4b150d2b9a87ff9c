/*===- FakeModel.c - A tiny stand-in for a compiled model ---------*- C -*-===*
 *
 * Part of xfc. Built as a shared library with the artifact entry-point ABI
 * (docs/artifact.md) so the runtime tests can load and run a real library
 * without the compiler. Inputs: x f32[2,4], ids i32[2]; weights: w f32[2,4],
 * table f32[4,4]; outputs:
 *   y[b][j] = x[b][j] * w[b][j] + table[ids[b]][j]
 *   s[b]    = 2 * ids[b] + 1, plus 1000 if a weight pointer is not 64-byte
 *             aligned (so the tests see whether weights are used in place),
 *             plus 2000 if the arena is not.
 * The products go through the 256-byte arena, as a compiled model's
 * intermediates do. It has one kernel ("fake.mul"); the last argument is
 * the profile buffer [enable, run ticks, kernel ticks, kernel calls]:
 * when enabled, a run adds 20 ticks to the run and 10 to the kernel, so
 * the kernel's time is half the measured one.
 *
 *===----------------------------------------------------------------------===*/

#include <stdint.h>
#include <string.h>

/* What xf-export-signature emits for a real model: the number of tensors
 * the entry point reads, then each one's size in bytes (x, ids, w, table,
 * y, s, arena, profile). */
__attribute__((visibility("default"))) const int64_t xfc_signature[9] = {
    8, 2 * 4 * 4, 2 * 4, 2 * 4 * 4, 4 * 4 * 4, 2 * 4 * 4, 2 * 4, 256, 4 * 8};

__attribute__((visibility("default"))) void xfc_entry(void **args) {
  const float *x = (const float *)args[0];
  /* memcpy: callers may pass ids at any alignment (the tests do). */
  int32_t ids[2];
  memcpy(ids, args[1], sizeof(ids));
  const float *w = (const float *)args[2];
  const float *table = (const float *)args[3];
  float *y = (float *)args[4];
  int32_t *s = (int32_t *)args[5];
  float *arena = (float *)args[6];
  int64_t *profile = (int64_t *)args[7];
  if (profile[0]) {
    profile[1] += 20;
    profile[2] += 10;
    profile[3] += 1;
  }
  int misaligned = ((uintptr_t)w % 64 != 0) || ((uintptr_t)table % 64 != 0);
  int arenaMisaligned = (uintptr_t)arena % 64 != 0;
  for (int b = 0; b < 2; ++b) {
    for (int j = 0; j < 4; ++j)
      arena[b * 4 + j] = x[b * 4 + j] * w[b * 4 + j];
    for (int j = 0; j < 4; ++j)
      y[b * 4 + j] = arena[b * 4 + j] + table[ids[b] * 4 + j];
    s[b] = 2 * ids[b] + 1 + (misaligned ? 1000 : 0) +
           (arenaMisaligned ? 2000 : 0);
  }
}
