import Foundation
import MoEData
import Testing

@Suite struct BatchSamplerTests {
    @Test func everyIndexOncePerEpochWithoutDropLast() {
        var s = BatchSampler(count: 103, batchSize: 10, seed: 5, dropLast: false)
        #expect(s.batchesPerEpoch == 11)
        var epochs: [[Int]] = []
        for e in 0..<3 {
            var seen: [Int] = []
            for b in 0..<s.batchesPerEpoch {
                let batch = s.next()
                #expect(s.epoch == e)
                #expect(batch.count == (b == 10 ? 3 : 10))
                seen += batch
            }
            #expect(s.epochExhausted)
            #expect(seen.sorted() == Array(0..<103))
            epochs.append(seen)
        }
        #expect(epochs[0] != epochs[1] && epochs[1] != epochs[2])
        #expect(epochs[0] != Array(0..<103), "shuffled")
        _ = s.next()
        #expect(s.epoch == 3 && s.position == 10)
    }

    @Test func dropLastSkipsPartialBatch() {
        var s = BatchSampler(count: 103, batchSize: 10, seed: 5)
        #expect(s.batchesPerEpoch == 10)
        var seen = Set<Int>()
        for _ in 0..<10 {
            let batch = s.next()
            #expect(batch.count == 10)
            seen.formUnion(batch)
        }
        #expect(seen.count == 100 && s.epoch == 0 && s.epochExhausted)
        #expect(s.next().count == 10 && s.epoch == 1)
    }

    @Test func sameSeedSameOrderDifferentSeedDifferentOrder() {
        var a = BatchSampler(count: 1000, batchSize: 32, seed: 11)
        var b = BatchSampler(count: 1000, batchSize: 32, seed: 11)
        var c = BatchSampler(count: 1000, batchSize: 32, seed: 12)
        var same = true
        var differs = false
        for _ in 0..<100 {
            let x = a.next()
            let y = b.next()
            let z = c.next()
            same = same && x == y
            differs = differs || x != z
        }
        #expect(same && differs)
        #expect(a == b && a != c)
    }

    @Test func codableRoundTripMidEpochResumesIdentically() throws {
        var s = BatchSampler(count: 60_000, batchSize: 128, seed: 2024)
        for _ in 0..<(s.batchesPerEpoch + 17) { _ = s.next() }  // into epoch 1
        #expect(s.epoch == 1 && s.position == 17 * 128)
        let data = try JSONEncoder().encode(s)
        #expect(data.count < 200, "state stays small: \(data.count) bytes")
        var restored = try JSONDecoder().decode(BatchSampler.self, from: data)
        #expect(restored == s)
        for _ in 0..<(2 * s.batchesPerEpoch) {
            let expected = s.next()
            let actual = restored.next()
            if expected != actual {
                Issue.record("diverged at epoch \(s.epoch) position \(s.position)")
                break
            }
        }
        #expect(restored == s && s.epoch == 3)
    }

    @Test func decodingRejectsInconsistentState() {
        let json = #"{"count":10,"batchSize":4,"seed":1,"dropLast":true,"epoch":0,"position":11}"#
        #expect(throws: DecodingError.self) { try JSONDecoder().decode(BatchSampler.self, from: Data(json.utf8)) }
    }

    @Test func permutationIsPureFunctionOfSeedAndEpoch() {
        let p = BatchSampler.permutation(count: 50, seed: 9, epoch: 4)
        #expect(p == BatchSampler.permutation(count: 50, seed: 9, epoch: 4))
        #expect(p != BatchSampler.permutation(count: 50, seed: 9, epoch: 5))
        #expect(p.sorted() == Array(0..<50))
    }
}
