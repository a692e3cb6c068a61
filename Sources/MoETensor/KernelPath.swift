import CKernels

/// Which implementation a kernel with an AVX2/FMA variant runs (GELU, fused attention).
///
/// The package builds without `-march` flags, so the Swift kernels run at the baseline SIMD
/// width; the C kernels in `CKernels` carry their own target attribute and are chosen at run
/// time. `.portable` (the Swift / GEMM code) stays the reference the tests compare with. On
/// CPUs with AVX-512F the fused attention's products run sixteen lanes wide, bit for bit as
/// eight (`.avx2` keeps them eight wide, for the tests that check this).
public enum KernelPath: Sendable {
    /// The widest C kernel this CPU runs, else the portable one.
    case automatic
    /// The AVX2/FMA kernels without their AVX-512 parts (when the CPU has AVX2 and FMA).
    case avx2
    /// The portable Swift / GEMM kernel.
    case portable

    /// Whether this CPU runs the AVX2/FMA kernels.
    public static let hasAVX2FMA = moe_cpu_has_avx2_fma() != 0
    /// Whether this CPU also runs the AVX-512F ones.
    public static let hasAVX512 = hasAVX2FMA && moe_cpu_has_avx512f() != 0

    @inline(__always) public var usesAVX2: Bool { self != .portable && Self.hasAVX2FMA }
    @inline(__always) public var usesAVX512: Bool { self == .automatic && Self.hasAVX512 }
}
