import CKernels

/// Which implementation a kernel with an AVX2/FMA variant runs (GELU, fused attention).
///
/// The package builds without `-march` flags, so the Swift kernels run at the baseline SIMD
/// width; the C kernels in `CKernels` carry their own target attribute and are chosen at run
/// time. `.portable` (the Swift / OpenBLAS code) stays the reference the tests compare with.
public enum KernelPath: Sendable {
    /// The AVX2/FMA kernel when the CPU has both, else the portable one.
    case automatic
    /// The portable Swift / OpenBLAS kernel.
    case portable

    /// Whether this CPU runs the AVX2/FMA kernels.
    public static let hasAVX2FMA = moe_cpu_has_avx2_fma() != 0

    @inline(__always) var usesAVX2: Bool { self == .automatic && Self.hasAVX2FMA }
}
