import MoETensor
import Testing

@testable import MoEModel

extension MoEModelSuites {
    /// An expert-parallel exchange that fails (DESIGN §11.2) surfaces as an error of the
    /// training forward, not a trap; inference passes never exchange.
    @Suite struct ExpertExchangeFailureTests {
        struct Failure: Error, Equatable {}

        /// Group rank `rank` of 2 whose all-to-all always throws, counting its calls.
        final class FailingExchange: ExpertExchange {
            let groupSize = 2
            let groupRank: Int
            var calls = 0
            init(rank: Int = 0) { groupRank = rank }
            func exchange(_ send: [Float], sendCounts: [Int]) throws -> (values: [Float], counts: [Int]) {
                calls += 1
                throw Failure()
            }
        }

        /// Pretends every group rank sent a header of the wrong length.
        final class ShortExchange: ExpertExchange {
            let groupSize = 2
            let groupRank = 0
            func exchange(_ send: [Float], sendCounts: [Int]) throws -> (values: [Float], counts: [Int]) {
                ([1], [1, 0])
            }
        }

        @Test func aFailedExchangeThrowsFromTheTrainingForwardOnce() throws {
            let model = try VisionMoE(config: tinyConfig(experts: 4, topK: 2), seed: 1)
            let exchange = FailingExchange()
            model.expertParallelism = try ExpertParallelism(exchange)
            let images = randomImages([2, 2, 8, 8], seed: 3)
            #expect(throws: Failure.self) { _ = try model.forward(images: images, dataset: "a") }
            // The first failure skips the second layer's exchange; the error is then cleared.
            #expect(exchange.calls == 1)
            #expect(model.expertParallelism?.failure == nil)
            #expect(throws: Failure.self) { _ = try model.forward(images: images, dataset: "a") }
            // Inference runs every expert here.
            let calls = exchange.calls
            let logits = try model.forward(images: images, dataset: "a", training: false)
            #expect(exchange.calls == calls)
            #expect(logits.storage.allSatisfy { $0.isFinite })
        }

        @Test func countsThatDoNotAddUpAreAnError() throws {
            let model = try VisionMoE(config: tinyConfig(experts: 4, topK: 2), seed: 1)
            model.expertParallelism = try ExpertParallelism(ShortExchange())
            let error = try #require(throws: ExpertExchangeError.self) {
                _ = try model.forward(images: randomImages([2, 2, 8, 8], seed: 3), dataset: "a")
            }
            #expect(error.description.contains("fewer than 2 counts"))
        }

        @Test func aRankOutsideTheGroupIsRejected() {
            #expect(throws: ModelError.self) { _ = try ExpertParallelism(FailingExchange(rank: 2)) }
        }
    }
}
