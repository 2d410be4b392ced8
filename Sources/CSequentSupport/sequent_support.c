#include "sequent_support.h"

#if defined(__x86_64__) || defined(__i386__)
#include <xmmintrin.h>
#include <pmmintrin.h>

void sequent_enable_flush_to_zero(void) {
    _MM_SET_FLUSH_ZERO_MODE(_MM_FLUSH_ZERO_ON);
    _MM_SET_DENORMALS_ZERO_MODE(_MM_DENORMALS_ZERO_ON);
}

int sequent_flush_to_zero_enabled(void) {
    return _MM_GET_FLUSH_ZERO_MODE() == _MM_FLUSH_ZERO_ON && _MM_GET_DENORMALS_ZERO_MODE() == _MM_DENORMALS_ZERO_ON;
}

void sequent_cpu_relax(void) { _mm_pause(); }
#else
void sequent_enable_flush_to_zero(void) {}
int sequent_flush_to_zero_enabled(void) { return 0; }
void sequent_cpu_relax(void) {}
#endif

/* The same loop body compiled three times; the dispatcher picks the widest the CPU supports. */
#define ADAM_BODY                                                                 \
    for (long i = 0; i < n; i++) {                                                \
        float gi = g[i];                                                          \
        float mi = m[i] + (gi - m[i]) * a1;                                       \
        float vi = v[i] + (gi * gi - v[i]) * a2;                                  \
        m[i] = mi;                                                                \
        v[i] = vi;                                                                \
        w[i] -= alpha * mi / (__builtin_sqrtf(vi) + eps);                         \
    }

#define RMSPROP_BODY                                                              \
    for (long i = 0; i < n; i++) {                                                \
        float gi = g[i];                                                          \
        float si = rho * s[i] + (1.0f - rho) * gi * gi;                           \
        s[i] = si;                                                                \
        float denominator = si;                                                   \
        if (average) {                                                            \
            float ai = rho * average[i] + (1.0f - rho) * gi;                      \
            average[i] = ai;                                                      \
            denominator -= ai * ai;                                               \
        }                                                                         \
        float step = lr * gi / __builtin_sqrtf(denominator + eps);                \
        if (momentum) {                                                           \
            float ui = mu * momentum[i] + step;                                   \
            momentum[i] = ui;                                                     \
            w[i] -= ui;                                                           \
        } else {                                                                  \
            w[i] -= step;                                                         \
        }                                                                         \
    }

#define ADAM_ARGS float *restrict w, const float *restrict g, float *restrict m, float *restrict v, long n, \
                  float alpha, float a1, float a2, float eps
#define RMSPROP_ARGS float *restrict w, const float *restrict g, float *restrict s, float *restrict momentum, \
                     float *restrict average, long n, float lr, float rho, float mu, float eps

static void adam_base(ADAM_ARGS) { ADAM_BODY }
static void rmsprop_base(RMSPROP_ARGS) { RMSPROP_BODY }

#if defined(__x86_64__)
__attribute__((target("avx2,fma"))) static void adam_avx2(ADAM_ARGS) { ADAM_BODY }
__attribute__((target("avx512f"))) static void adam_avx512(ADAM_ARGS) { ADAM_BODY }
__attribute__((target("avx2,fma"))) static void rmsprop_avx2(RMSPROP_ARGS) { RMSPROP_BODY }
__attribute__((target("avx512f"))) static void rmsprop_avx512(RMSPROP_ARGS) { RMSPROP_BODY }
#endif

void sequent_adam_update(float *w, const float *g, float *m, float *v, long n,
                         float alpha, float a1, float a2, float eps) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) { adam_avx512(w, g, m, v, n, alpha, a1, a2, eps); return; }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { adam_avx2(w, g, m, v, n, alpha, a1, a2, eps); return; }
#endif
    adam_base(w, g, m, v, n, alpha, a1, a2, eps);
}

void sequent_rmsprop_update(float *w, const float *g, float *s, float *momentum, float *average, long n,
                            float lr, float rho, float mu, float eps) {
#if defined(__x86_64__)
    if (__builtin_cpu_supports("avx512f")) { rmsprop_avx512(w, g, s, momentum, average, n, lr, rho, mu, eps); return; }
    if (__builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma")) { rmsprop_avx2(w, g, s, momentum, average, n, lr, rho, mu, eps); return; }
#endif
    rmsprop_base(w, g, s, momentum, average, n, lr, rho, mu, eps);
}
