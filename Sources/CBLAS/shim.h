#pragma once
// The OpenBLAS cblas.h (pinned through pkg-config "openblas") also declares openblas_set_num_threads,
// openblas_get_corename and openblas_get_config, which the reference-BLAS header lacks.
#include <cblas.h>
