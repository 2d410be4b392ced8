/* One-row Dense forward for serving: y = x · W over a slice of the output units, reading only the kernel rows
 * whose input is nonzero.
 *
 * A single sample's Dense layer is a matrix-vector product: every kernel value is used once, so the time is
 * the time to stream the kernel from memory (38 MB for the 150×150 recipe's Flatten → Dense 512, 160 MB for
 * the 300×300 one's). Its input is the previous layer's ReLU (and max-pool) output, where half or more of the
 * values are zero, and the kernel row of a zero input contributes nothing: skipping those rows skips their
 * memory traffic, which sgemv cannot know to do. The sum is the same up to the order of the additions.
 */
#include "sequent_support.h"

#include <string.h>

#define AI static inline __attribute__((always_inline))

typedef float v16 __attribute__((vector_size(64)));
typedef float v16u __attribute__((vector_size(64), aligned(4)));
#define load16(p) (*(const v16u *)(p))
#define store16(p, v) (*(v16u *)(p) = (v))

/* Inputs are gathered in groups of this many nonzeros; each group's kernel rows are added in one pass over y. */
#define GROUP 4
/* Inputs scanned per batch of nonzero indices (branch-free compaction into a small stack array). */
#define SCAN 256

/* y[0 .. width) += Σ_k v[k] · rows[k][0 .. width) for GROUP rows. */
AI void add_rows(float *y, long width, const float *const *rows, const float *v) {
    long c = 0;
    for (; c + 16 <= width; c += 16) {
        v16 acc = load16(y + c);
        for (int k = 0; k < GROUP; k++) acc += load16(rows[k] + c) * v[k];
        store16(y + c, acc);
    }
    for (; c < width; c++) {
        float acc = y[c];
        for (int k = 0; k < GROUP; k++) acc += rows[k][c] * v[k];
        y[c] = acc;
    }
}

AI void dense_row(const float *x, const float *w, long inputs, long units, long c0, long c1, float *y) {
    long width = c1 - c0;
    float *yc = y + c0;
    memset(yc, 0, sizeof(float) * (size_t)width);
    const float *rows[GROUP];
    float v[GROUP];
    int k = 0;
    for (long i0 = 0; i0 < inputs; i0 += SCAN) {
        long end = inputs - i0 < SCAN ? inputs - i0 : SCAN;
        int idx[SCAN], count = 0;
        for (long i = 0; i < end; i++) {
            idx[count] = (int)i;
            count += x[i0 + i] != 0;
        }
        for (int j = 0; j < count; j++) {
            long i = i0 + idx[j];
            rows[k] = w + i * units + c0;
            v[k] = x[i];
            if (++k == GROUP) { add_rows(yc, width, rows, v); k = 0; }
        }
    }
    /* The last partial group, padded with zero weights of a row already in it. */
    if (k > 0) {
        for (int j = k; j < GROUP; j++) { rows[j] = rows[0]; v[j] = 0; }
        add_rows(yc, width, rows, v);
    }
}

#if defined(__x86_64__)
__attribute__((target("avx512f"))) static void dense_row_avx512(const float *x, const float *w, long inputs,
                                                                long units, long c0, long c1, float *y) {
    dense_row(x, w, inputs, units, c0, c1, y);
}
__attribute__((target("avx2,fma"))) static void dense_row_avx2(const float *x, const float *w, long inputs,
                                                               long units, long c0, long c1, float *y) {
    dense_row(x, w, inputs, units, c0, c1, y);
}
#endif

void sequent_dense_forward_row(const float *x, const float *w, long inputs, long units, long col0, long col1,
                               float *y) {
#if defined(__x86_64__)
    switch (sequent_kernel_level()) {
    case 2: dense_row_avx512(x, w, inputs, units, col0, col1, y); return;
    case 1: dense_row_avx2(x, w, inputs, units, col0, col1, y); return;
    default: break;
    }
#endif
    dense_row(x, w, inputs, units, col0, col1, y);
}
