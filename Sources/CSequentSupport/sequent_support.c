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
#else
void sequent_enable_flush_to_zero(void) {}
int sequent_flush_to_zero_enabled(void) { return 0; }
#endif
