import COpenBLAS

/// The kernel set OpenBLAS multiplies with on this machine, in OpenBLAS's names ("Haswell",
/// "Zen", "SkylakeX", "Cooperlake", …): chosen by CPU when OpenBLAS loads, or named by
/// `OPENBLAS_CORETYPE`. Speeds and OpenBLAS's rounding depend on it (`smallGEMMMultiplyAdds`),
/// so `moe bench` and `moe pretrain` print it.
public enum OpenBLASCore {
    public static var name: String { openblas_get_corename().map { String(cString: $0) } ?? "unknown" }
}
