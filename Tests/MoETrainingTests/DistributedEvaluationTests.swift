import Foundation
import Testing

@testable import MoETasks
@testable import MoETraining

/// Sharded evaluation on in-process thread ranks (DESIGN §11.3): every rank receives the
/// one-process metrics of every task, for rank counts that do not divide the test splits
/// (the loss up to 1e-6: a shard's batches hold other examples, which moves the float loss
/// of an example by rounding).
@Suite struct DistributedEvaluationTests {
    @Test(arguments: [2, 3, 5])
    func shardedMetricsEqualOneProcess(ranks: Int) throws {
        let recipe = try HeterogeneousTrainingTests.recipe(["training.evalBatchSize=3"])
        let data = HeterogeneousTrainingTests.data
        // Six identical steps alone give every rank the same trained weights.
        let reference = try Trainer(recipe: recipe, data: data)
        for _ in 0..<6 { try reference.step() }
        let one = try reference.evaluate()

        let group = ThreadGroup(size: ranks)
        let results = EvaluationResults(count: ranks)
        try group.run { r in
            let trainer = try Trainer(recipe: recipe, data: data)
            for _ in 0..<6 { try trainer.step() }
            let rank = group.rank(r)
            guard ranks == 2 else {
                // No data-parallel trainer: 3 and 5 ranks do not divide the batch sizes.
                var metrics: [String: TaskMetrics] = [:]
                for d in data {
                    metrics[d.name] = try Evaluation.evaluate(
                        model: trainer.model, dataset: d, batchSize: 3, collective: rank)
                }
                return results.set(r, metrics)
            }
            try trainer.distribute(over: rank)
            results.set(r, try trainer.evaluate())
        }
        for r in 0..<ranks {
            let many = try #require(results.value(r))
            #expect(many.keys.sorted() == one.keys.sorted())
            for (name, m) in one {
                let got = try #require(many[name])
                #expect(got.count == m.count)
                for (key, value) in m.values where key != "loss" {
                    #expect(got.values[key] == value, "rank \(r) of \(ranks): \(name) \(key)")
                }
                if let loss = m.values["loss"] {
                    #expect(abs((got.values["loss"] ?? .infinity) - loss) <= 1e-6 * loss)
                }
            }
        }
    }

    @Test func gatherConcatenatesInRankOrder() throws {
        let group = ThreadGroup(size: 3)
        try group.run { r in
            let shard = EvaluationShard(collective: group.rank(r))
            let gathered = try shard.gather((0..<r).map { Double(10 * r + $0) })
            #expect(gathered == [10, 20, 21])
            #expect(shard.examples(of: 7) == [0..<2, 2..<4, 4..<7][r])
        }
    }
}

/// Per-rank results collected across threads.
final class EvaluationResults: @unchecked Sendable {
    private let lock = NSLock()
    private var values: [[String: TaskMetrics]?]
    init(count: Int) { values = Array(repeating: nil, count: count) }
    func set(_ rank: Int, _ value: [String: TaskMetrics]) {
        lock.lock()
        values[rank] = value
        lock.unlock()
    }
    func value(_ rank: Int) -> [String: TaskMetrics]? {
        lock.lock()
        defer { lock.unlock() }
        return values[rank]
    }
}
