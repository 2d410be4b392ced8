import CBLAS
import Foundation

/// OpenBLAS, the engine's matrix multiply, and the one piece of platform setup it needs.
public enum BLAS {
    /// `C = alpha · op(A) · op(B) + beta · C`, row-major; `op(A)` is `m × k`, `op(B)` is `k × n`.
    @inline(__always)
    static func sgemm(
        transA: Bool = false, transB: Bool = false, m: Int, n: Int, k: Int,
        alpha: Float = 1, a: UnsafePointer<Float>, lda: Int, b: UnsafePointer<Float>, ldb: Int,
        beta: Float, c: UnsafeMutablePointer<Float>, ldc: Int
    ) {
        cblas_sgemm(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, transB ? CblasTrans : CblasNoTrans,
                    Int32(m), Int32(n), Int32(k), alpha, a, Int32(lda), b, Int32(ldb), beta, c, Int32(ldc))
    }

    /// `y = op(A) · x` for a row-major `m × n` matrix `A` (`op(A) = Aᵀ` when `transA`).
    @inline(__always)
    static func sgemv(transA: Bool, m: Int, n: Int, a: UnsafePointer<Float>, x: UnsafePointer<Float>,
                      y: UnsafeMutablePointer<Float>) {
        cblas_sgemv(CblasRowMajor, transA ? CblasTrans : CblasNoTrans, Int32(m), Int32(n), 1, a, Int32(n), x, 1, 0, y, 1)
    }

    /// The kernel family OpenBLAS selected for this CPU, e.g. "SkylakeX" (or "Prescott" when it failed to
    /// recognise the CPU).
    public static var coreName: String { String(cString: openblas_get_corename()) }

    /// OpenBLAS's build configuration string.
    public static var config: String { String(cString: openblas_get_config()) }

    /// Sets OpenBLAS's own thread pool size. The engine parallelises across samples itself, so it runs
    /// BLAS single-threaded: spinning BLAS pools collapse when another process shares the cores.
    public static func setThreads(_ n: Int) { openblas_set_num_threads(Int32(max(1, n))) }

    /// Cores OpenBLAS falls back to when it does not know the CPU (0.3.21 on Emerald Rapids picks
    /// "Prescott": SSE3 kernels, 4–5× slower than the AVX-512 ones the CPU can run).
    static let fallbackCores: Set<String> = ["Prescott", "Core2", "Nehalem", "Penryn", "Dunnington", "Atom", "unknown"]

    /// The `OPENBLAS_CORETYPE` this CPU should use, from /proc/cpuinfo's flags.
    public static func recommendedCoreType() -> String? {
        guard let cpuinfo = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let line = cpuinfo.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return nil }
        let flags = Set(line.split(separator: " ").map(String.init))
        if flags.contains("avx512f") && flags.contains("avx512bw") && flags.contains("avx512vl") { return "SkylakeX" }
        if flags.contains("avx2") && flags.contains("fma") { return "Haswell" }
        return nil
    }

    /// Makes sure OpenBLAS runs a kernel built for this CPU.
    ///
    /// OpenBLAS chooses its kernel in a shared-library constructor, before `main`, so setting
    /// `OPENBLAS_CORETYPE` from inside the process is too late. When the detected core is a fallback and the
    /// CPU supports better, this sets the variable and re-executes the program once (argv unchanged). It
    /// returns only when no re-exec was needed or possible. Call it first thing in `main`.
    public static func ensureNativeKernel() {
        guard getenv("OPENBLAS_CORETYPE") == nil, getenv("SEQUENT_NO_REEXEC") == nil else { return }
        guard fallbackCores.contains(coreName), let want = recommendedCoreType() else { return }
        setenv("OPENBLAS_CORETYPE", want, 1)
        // Guard against a loop if the variable is somehow ignored.
        setenv("SEQUENT_NO_REEXEC", "1", 1)
        execv("/proc/self/exe", CommandLine.unsafeArgv)
        // execv returns only on failure: carry on with the slow kernel rather than not at all.
    }

    /// True when the running kernel is a fallback although the CPU could do better.
    public static var isFallbackKernel: Bool {
        fallbackCores.contains(coreName) && recommendedCoreType() != nil
    }
}
