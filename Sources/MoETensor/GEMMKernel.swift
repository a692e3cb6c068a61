import CKernels
import Foundation

/// The code every product of `gemm` runs on, chosen once per process: moe's AVX-512 kernel
/// (`moe_sgemm_avx512`) on CPUs with AVX-512F, OpenBLAS elsewhere or when the environment
/// says `MOE_GEMM=openblas`.
///
/// The two round differently. OpenBLAS's bits depend on its kernel set, and within a call on
/// where an element falls in its register tiles; the AVX-512 kernel sums each element of C
/// in one FMA chain per block of `innerBlock` inner rows, the same on every CPU that runs it
/// and for any cut of C into calls. `MOE_GEMM=openblas` reproduces, on an AVX-512 machine,
/// what a machine without AVX-512 computes with the same OpenBLAS kernel set.
public enum GEMMKernel: Sendable, Equatable {
    case openBLAS
    case avx512

    /// The kernel of this process.
    public static let current: GEMMKernel =
        ProcessInfo.processInfo.environment[environmentVariable] == "openblas" || moe_cpu_has_avx512f() == 0
        ? .openBLAS : .avx512

    /// Inner rows per block of the AVX-512 kernel, and the unroll that rounds a remainder
    /// between Q and 2Q (the rule `gemmInnerChunks` documents).
    public static let innerBlock = (q: Int(MOE_SGEMM_AVX512_Q), unroll: Int(MOE_SGEMM_AVX512_UNROLL))

    /// "moe AVX-512", or "OpenBLAS" and its kernel set, as `moe bench` and `moe pretrain` print it.
    public var name: String {
        switch self {
        case .avx512: "moe AVX-512"
        case .openBLAS: "OpenBLAS \(OpenBLASCore.name)"
        }
    }

    /// The environment variable that picks the kernel: `auto` (or unset) or `openblas`.
    public static let environmentVariable = "MOE_GEMM"

    /// Throws when `MOE_GEMM` holds anything but `auto` or `openblas`.
    public static func validateEnvironment(
        _ environment: [String: String] = ProcessInfo.processInfo.environment
    ) throws {
        guard let value = environment[environmentVariable] else { return }
        guard ["", "auto", "openblas"].contains(value) else {
            throw GEMMKernelError(
                message: "\(environmentVariable)=\(value) is not a GEMM kernel; expected 'auto' or 'openblas'")
        }
    }
}

/// A `MOE_GEMM` value that names no kernel.
public struct GEMMKernelError: Error, CustomStringConvertible {
    public let message: String
    public var description: String { message }
}
