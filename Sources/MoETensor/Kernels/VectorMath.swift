/// Vectorised float32 helpers shared by the element-wise kernels: SIMD loads/stores through
/// raw pointers, a fast `exp` and a fast `erf`.
///
/// The package builds for baseline x86-64 / arm64, so 8-wide `SIMD8<Float>` maps onto two
/// SSE or NEON registers. Everything here is branch-free so whole rows stay in vector code.

/// Lanes processed per SIMD step by the element-wise kernels.
@usableFromInline let simdWidth = 8

@inline(__always) @usableFromInline
func loadVector(_ p: UnsafePointer<Float>) -> SIMD8<Float> {
    UnsafeRawPointer(p).loadUnaligned(as: SIMD8<Float>.self)
}

@inline(__always) @usableFromInline
func storeVector(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>) {
    UnsafeMutableRawPointer(p).storeBytes(of: v, as: SIMD8<Float>.self)
}

/// Loads `count < 8` floats into the low lanes, `fill` elsewhere (for row tails).
@inline(__always) @usableFromInline
func loadPartialVector(_ p: UnsafePointer<Float>, count: Int, fill: Float = 0) -> SIMD8<Float> {
    var v = SIMD8<Float>(repeating: fill)
    for i in 0..<count { v[i] = p[i] }
    return v
}

@inline(__always) @usableFromInline
func storePartialVector(_ v: SIMD8<Float>, _ p: UnsafeMutablePointer<Float>, count: Int) {
    for i in 0..<count { p[i] = v[i] }
}

// `pointwiseMin`/`clamped` compile to scalar code (NaN-aware generic paths); a compare and
// blend stays in vector registers and is several times faster.
@inline(__always) @usableFromInline
func vectorMin(_ v: SIMD8<Float>, _ bound: Float) -> SIMD8<Float> {
    v.replacing(with: bound, where: v .> bound)
}

@inline(__always) @usableFromInline
func vectorMax(_ v: SIMD8<Float>, _ bound: Float) -> SIMD8<Float> {
    v.replacing(with: bound, where: v .< bound)
}

/// `e^x` to about 2 ulp (Cephes `expf` polynomial, Cody–Waite reduction).
/// Inputs below -87.33 (including -inf) give exactly 0 so masked logits vanish;
/// inputs above 88.37 saturate at ~3.4e38.
@inline(__always) @usableFromInline
func fastExp(_ x: SIMD8<Float>) -> SIMD8<Float> {
    let clamped = vectorMin(vectorMax(x, -87.33), 88.37)
    return fastExpInRange(clamped).replacing(with: 0, where: x .< -87.33)
}

/// `e^x` for x already within [-87.33, 88.37] (no clamping or underflow handling).
@inline(__always) @usableFromInline
func fastExpInRange(_ x: SIMD8<Float>) -> SIMD8<Float> {
    // Round x·log2(e) to the nearest integer with the 1.5·2^23 trick (no SSE4 round needed).
    let magic = SIMD8<Float>(repeating: 12_582_912)
    let shifted = x * 1.442_695_04 + magic
    let n = shifted - magic
    var r = x - n * 0.693_359_375
    r = r - n * -2.121_944_4e-4
    let r2 = r * r
    var p = SIMD8<Float>(repeating: 1.987_569_15e-4)
    p = p * r + 1.398_199_95e-3
    p = p * r + 8.333_451_9e-3
    p = p * r + 4.166_579_6e-2
    p = p * r + 1.666_666_5e-1
    p = p * r + 5.000_000_1e-1
    let e = p * r2 + r + 1
    // 2^n built directly in the exponent bits; n sits in the low mantissa bits of `shifted`.
    let nBits = unsafeBitCast(shifted, to: SIMD8<Int32>.self) &- 0x4B40_0000
    let scale = unsafeBitCast((nBits &+ 127) &<< 23, to: SIMD8<Float>.self)
    return e * scale
}

/// `erf(x)` to about 1.5e-7 absolute, together with `exp(-x²)` (to ~1.2e-7 absolute) (which GELU's backward
/// needs and which the large-|x| branch computes anyway).
///
/// |x| < 1: erf = x·P(x²), degree-6 fit of erf(x)/x. 1 ≤ |x| ≤ 4: erf = 1 − e^{−x²}·Q(t),
/// t = 1/(1 + x/2), degree-7 fit of erfcx. Beyond 4, float32 erf is ±1. Both branches are
/// evaluated and blended so the loop stays branch-free. Coefficients: weighted least
/// squares fits (relative error 1.2e-9 and 3.7e-10 in exact arithmetic).
@inline(__always) @usableFromInline
func fastErfAndGaussian(_ x: SIMD8<Float>) -> (erf: SIMD8<Float>, gaussian: SIMD8<Float>) {
    let bits = unsafeBitCast(x, to: SIMD8<UInt32>.self)
    let signBits = bits & 0x8000_0000
    let a = vectorMin(unsafeBitCast(bits & 0x7FFF_FFFF, to: SIMD8<Float>.self), 4)
    let a2 = a * a
    var p = SIMD8<Float>(repeating: 7.854_058_594_643_137e-05)
    p = p * a2 + -0.000_801_025_821_073_830_4
    p = p * a2 + 0.005_188_335_830_441_454
    p = p * a2 + -0.026_853_816_873_543_872
    p = p * a2 + 0.112_835_852_944_504_42
    p = p * a2 + -0.376_126_258_427_280_7
    p = p * a2 + 1.128_379_165_733_409_7
    let small = p * a
    let t = 1 / (1 + 0.5 * a)
    var q = SIMD8<Float>(repeating: 0.119_016_086_673_010_02)
    q = q * t + -0.470_151_891_097_290_05
    q = q * t + 0.561_873_318_632_951_5
    q = q * t + -0.102_592_633_027_516_94
    q = q * t + 0.347_361_014_737_790_6
    q = q * t + 0.259_801_692_607_374_8
    q = q * t + 0.284_896_245_012_457
    q = q * t + -0.000_153_187_738_756_395_2
    // |x| is clamped to 4, so −a² ∈ [−16, 0] needs no range handling; past 4 the true
    // e^{−x²} < 1.2e-7 and is flushed to 0 (keeps x·e^{−x²} from growing with x).
    let gaussian = fastExpInRange(-a2).replacing(with: 0, where: a .>= 4)
    let large = 1 - gaussian * q
    let magnitude = large.replacing(with: small, where: a .< 1)
    let signed = unsafeBitCast(
        unsafeBitCast(magnitude, to: SIMD8<UInt32>.self) | signBits, to: SIMD8<Float>.self)
    return (signed, gaussian)
}

/// `erf(x)`; see `fastErfAndGaussian`.
@inline(__always) @usableFromInline
func fastErf(_ x: SIMD8<Float>) -> SIMD8<Float> { fastErfAndGaussian(x).erf }

/// Sum of `count` floats with 8 independent partial sums (vectorises; Swift won't
/// reassociate a scalar float reduction on its own).
@inline(__always) @usableFromInline
func vectorSum(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + simdWidth <= count {
        acc += loadVector(p + i)
        i += simdWidth
    }
    var s = acc.sum()
    while i < count {
        s += p[i]
        i += 1
    }
    return s
}

/// Σ a[i]·b[i] with 8 partial sums.
@inline(__always) @usableFromInline
func vectorDot(_ a: UnsafePointer<Float>, _ b: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>()
    var i = 0
    while i + simdWidth <= count {
        acc += loadVector(a + i) * loadVector(b + i)
        i += simdWidth
    }
    var s = acc.sum()
    while i < count {
        s += a[i] * b[i]
        i += 1
    }
    return s
}

/// Largest of `count >= 1` floats.
@inline(__always) @usableFromInline
func vectorMax(_ p: UnsafePointer<Float>, count: Int) -> Float {
    var acc = SIMD8<Float>(repeating: -.infinity)
    var i = 0
    while i + simdWidth <= count {
        let v = loadVector(p + i)
        acc = acc.replacing(with: v, where: v .> acc)
        i += simdWidth
    }
    var m = acc.max()
    while i < count {
        if p[i] > m { m = p[i] }
        i += 1
    }
    return m
}
