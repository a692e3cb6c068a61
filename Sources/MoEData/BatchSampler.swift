import MoETensor

/// Seeded epoch-wise batching: a fresh permutation every epoch, resumable exactly.
///
/// Epoch `e` visits the indices in the order of a permutation derived only from `seed` and
/// `e`, so the sampler's whole state is six integers: encoding it (e.g. in a checkpoint) and
/// decoding it later yields exactly the same future batches. The permutation itself is a
/// cache rebuilt on demand and is never encoded.
///
/// `epoch` is the (zero-based) epoch of the batch most recently returned by `next()`, and
/// `position` is how many indices of that epoch's permutation have been handed out.
public struct BatchSampler: Sendable, Codable, Equatable {
    /// Number of items sampled from (`0..<count`).
    public let count: Int
    /// Indices per batch.
    public let batchSize: Int
    /// Seed from which every epoch's permutation is derived.
    public let seed: UInt64
    /// Whether a final batch smaller than `batchSize` is skipped (its items move to no batch
    /// that epoch) instead of returned.
    public let dropLast: Bool
    /// Current epoch, starting at 0.
    public private(set) var epoch: Int
    /// Index into the current epoch's permutation of the next item to hand out.
    public private(set) var position: Int

    /// Permutation of `epoch`, or empty when not built yet (after init or decoding).
    private var order: [Int] = []

    private enum CodingKeys: String, CodingKey {
        case count, batchSize, seed, dropLast, epoch, position
    }

    /// A sampler over `0..<count` in batches of `batchSize`, positioned at the start of epoch 0.
    ///
    /// Requires `count > 0`, `batchSize > 0`, and `batchSize <= count` when `dropLast` is set
    /// (otherwise no batch could ever be produced).
    public init(count: Int, batchSize: Int, seed: UInt64, dropLast: Bool = true) {
        precondition(count > 0, "BatchSampler needs a positive count, got \(count)")
        precondition(batchSize > 0, "BatchSampler needs a positive batch size, got \(batchSize)")
        precondition(
            !dropLast || batchSize <= count,
            "batch size \(batchSize) exceeds count \(count) with dropLast: no batch would ever be produced")
        self.count = count
        self.batchSize = batchSize
        self.seed = seed
        self.dropLast = dropLast
        self.epoch = 0
        self.position = 0
    }

    public init(from decoder: any Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        count = try c.decode(Int.self, forKey: .count)
        batchSize = try c.decode(Int.self, forKey: .batchSize)
        seed = try c.decode(UInt64.self, forKey: .seed)
        dropLast = try c.decode(Bool.self, forKey: .dropLast)
        epoch = try c.decode(Int.self, forKey: .epoch)
        position = try c.decode(Int.self, forKey: .position)
        // Bounds keep `epoch += 1` and the permutation of `count` indices possible.
        guard (1...(1 << 32)).contains(count), batchSize > 0, !dropLast || batchSize <= count,
            (0...(1 << 40)).contains(epoch),
            (0...count).contains(position)
        else {
            throw DecodingError.dataCorrupted(
                .init(
                    codingPath: decoder.codingPath,
                    debugDescription: "inconsistent BatchSampler state: count \(count), batchSize \(batchSize), "
                        + "dropLast \(dropLast), epoch \(epoch), position \(position)"))
        }
    }

    /// Equal when the observable state is equal (the cached permutation is ignored).
    public static func == (a: BatchSampler, b: BatchSampler) -> Bool {
        a.count == b.count && a.batchSize == b.batchSize && a.seed == b.seed && a.dropLast == b.dropLast
            && a.epoch == b.epoch && a.position == b.position
    }

    /// Batches per epoch: `count / batchSize`, rounded down with `dropLast`, up without.
    public var batchesPerEpoch: Int {
        dropLast ? count / batchSize : (count + batchSize - 1) / batchSize
    }

    /// Whether the current epoch has no batch left, i.e. the next call to `next()` starts
    /// epoch `epoch + 1`. True right after the last batch of an epoch was returned.
    public var epochExhausted: Bool {
        let remaining = count - position
        return remaining == 0 || (dropLast && remaining < batchSize)
    }

    /// The next batch of indices. When the current epoch is exhausted this first moves to
    /// the next epoch, whose permutation is derived from `seed` and the new epoch number.
    public mutating func next() -> [Int] {
        if epochExhausted {
            epoch += 1
            position = 0
        }
        if order.count != count || orderEpoch != epoch {
            order = BatchSampler.permutation(count: count, seed: seed, epoch: epoch)
            orderEpoch = epoch
        }
        let end = min(position + batchSize, count)
        let batch = Array(order[position..<end])
        position = end
        return batch
    }

    /// The epoch `order` was built for.
    private var orderEpoch: Int = -1

    /// The permutation of `0..<count` used in `epoch` of a sampler seeded with `seed`.
    public static func permutation(count: Int, seed: UInt64, epoch: Int) -> [Int] {
        var generator = SeededGenerator(seed: mix(mix(seed) ^ UInt64(truncatingIfNeeded: epoch)))
        return generator.permutation(count)
    }

    /// SplitMix64's finaliser: a bijective 64-bit mixer.
    private static func mix(_ x: UInt64) -> UInt64 {
        var z = x &+ 0x9E37_79B9_7F4A_7C15
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Sequential evaluation batches over `0..<count`: consecutive ranges of `batchSize`
/// indices, no shuffling, the last partial batch kept. Empty when `count` is 0.
public func evaluationBatches(count: Int, batchSize: Int) -> [Range<Int>] {
    precondition(count >= 0, "count must be non-negative, got \(count)")
    precondition(batchSize > 0, "batch size must be positive, got \(batchSize)")
    return stride(from: 0, to: count, by: batchSize).map { $0..<min($0 + batchSize, count) }
}
