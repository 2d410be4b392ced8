# OPENBLAS_CORETYPE for this CPU, chosen as the `sequent` binary chooses it (BLAS.recommendedCoreType in
# Sources/SequentNN/BLAS.swift): AVX-512 F+BW+VL → SkylakeX, else AVX2+FMA → Haswell (AMD Zen 2/3 included;
# Zen 4 has AVX-512 and gets SkylakeX), else nothing and OpenBLAS picks. Keep the two rules the same.

# Prints the core type for the flags of /proc/cpuinfo (or of file $1), or nothing.
openblas_core_for_cpu() {
    local flags
    flags=" $(grep -m1 '^flags' "${1:-/proc/cpuinfo}" 2>/dev/null | cut -d: -f2-) "
    if [[ $flags == *" avx512f "* && $flags == *" avx512bw "* && $flags == *" avx512vl "* ]]; then
        echo SkylakeX
    elif [[ $flags == *" avx2 "* && $flags == *" fma "* ]]; then
        echo Haswell
    fi
}

# Exports OPENBLAS_CORETYPE for this CPU unless it is already set (a caller's choice wins).
export_openblas_core() {
    [ -n "${OPENBLAS_CORETYPE:-}" ] && return 0
    local core
    core=$(openblas_core_for_cpu)
    if [ -n "$core" ]; then export OPENBLAS_CORETYPE="$core"; fi
}
