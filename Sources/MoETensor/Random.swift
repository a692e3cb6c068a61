/// A seeded, serialisable random number generator (xoshiro256**, seeded through SplitMix64).
///
/// Every random choice in `moe` (initialisation, shuffling, sampling) draws from one of
/// these, and its four state words go into checkpoints so a resumed run repeats exactly.
public struct SeededGenerator: RandomNumberGenerator, Sendable, Equatable, Codable {
    public var state: [UInt64]

    /// A generator whose whole stream is fixed by `seed`.
    public init(seed: UInt64) {
        var s = seed
        var words = [UInt64]()
        for _ in 0..<4 {
            s &+= 0x9E37_79B9_7F4A_7C15
            var z = s
            z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
            z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
            words.append(z ^ (z >> 31))
        }
        state = words
    }

    enum CodingKeys: String, CodingKey { case state }

    /// Decodes saved state words; anything but four words, not all zero, is an error.
    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        let words = try c.decode([UInt64].self, forKey: .state)
        guard words.count == 4, words.contains(where: { $0 != 0 }) else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: c.codingPath + [CodingKeys.state],
                    debugDescription: "a generator state is 4 words, not all zero; found \(words.count) words"))
        }
        state = words
    }

    /// Restores a generator from saved state words.
    public init(state: [UInt64]) {
        precondition(state.count == 4, "xoshiro256** state has 4 words, got \(state.count)")
        self.state = state
    }

    @inlinable
    public mutating func next() -> UInt64 {
        let result = rotl(state[1] &* 5, 7) &* 9
        let t = state[1] << 17
        state[2] ^= state[0]
        state[3] ^= state[1]
        state[1] ^= state[2]
        state[0] ^= state[3]
        state[2] ^= t
        state[3] = rotl(state[3], 45)
        return result
    }

    @inlinable func rotl(_ x: UInt64, _ k: UInt64) -> UInt64 { (x << k) | (x >> (64 - k)) }

    /// Uniform in [0, 1) with 24 bits of precision.
    public mutating func uniform() -> Float {
        Float(next() >> 40) * (1.0 / 16_777_216.0)
    }

    /// Standard normal sample (Box–Muller).
    public mutating func normal() -> Float {
        let u1 = max(Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0), 1e-300)
        let u2 = Double(next() >> 11) * (1.0 / 9_007_199_254_740_992.0)
        return Float((-2 * _log(u1)).squareRoot() * _cos(2 * Double.pi * u2))
    }

    /// Truncated normal with standard deviation `std`, cut at ±2 std (timm's ViT init).
    public mutating func truncatedNormal(std: Float) -> Float {
        while true {
            let z = normal()
            if abs(z) <= 2 { return z * std }
        }
    }

    /// A uniformly random integer in `0..<upperBound`.
    public mutating func index(below upperBound: Int) -> Int {
        Int(next(upperBound: UInt64(upperBound)))
    }

    /// A seeded permutation of `0..<count` (Fisher–Yates).
    public mutating func permutation(_ count: Int) -> [Int] {
        var p = Array(0..<count)
        if count < 2 { return p }
        for i in stride(from: count - 1, to: 0, by: -1) {
            p.swapAt(i, index(below: i + 1))
        }
        return p
    }
}

#if canImport(Glibc)
import Glibc
@usableFromInline func _log(_ x: Double) -> Double { Glibc.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Glibc.cos(x) }
#else
import Foundation
@usableFromInline func _log(_ x: Double) -> Double { Foundation.log(x) }
@usableFromInline func _cos(_ x: Double) -> Double { Foundation.cos(x) }
#endif
