import Foundation
import MoETestSupport
import Testing

@testable import MoERecipe
@testable import MoETraining

/// Every recipe value is checked for its type and range on load, and an error names the key
/// path and the value (issue classes: no upper bounds, fields never validated, values that do
/// not fit their type).
@Suite struct RecipeBoundsTests {
    /// The error a recipe load throws, as text.
    func loadError(_ overrides: [String]) -> String? {
        do {
            _ = try tinyRecipe(overrides: overrides)
            return nil
        } catch {
            return "\(error)"
        }
    }

    @Test(
        "out-of-range and nonsense values are errors naming the key path",
        arguments: [
            ("model.width=1000000000000", "model.width"),
            ("model.width=4611686018427387904", "model.width"),
            ("model.imageSize=2147483648", "model.imageSize"),
            ("model.imageSize=0", "model.imageSize"),
            ("model.depth=1000000", "model.depth"),
            ("model.moeEvery=3", "model.moeEvery"),
            ("model.layerNormEpsilon=0", "model.layerNormEpsilon"),
            ("model.experts=100000", "model.experts"),
            ("model.patchSize=3", "model.imageSize"),
            ("training.epochs=1e30", "training.epochs"),
            ("training.threads=100000", "training.threads"),
            ("training.logEvery=0", "training.logEvery"),
            ("training.evalBatchSize=0", "training.evalBatchSize"),
            ("training.miWeight=-1", "training.miWeight"),
            ("datasets.digits.resize=-3", "datasets.digits.resize"),
            ("datasets.digits.lossWeight=-1", "datasets.digits.lossWeight"),
            ("datasets.digits.batchSize=0", "datasets.digits.batchSize"),
            ("datasets.digits.testFraction=-0.5", "datasets.digits.testFraction"),
            ("optimizer.beta1=1.5", "optimizer.beta1"),
            ("optimizer.eps=-1", "optimizer.eps"),
            ("optimizer.momentum=2", "optimizer.momentum"),
            ("optimizer.weightDecay=-1", "optimizer.weightDecay"),
            ("optimizer.clip=-1", "optimizer.clip"),
            ("optimizer.lr=0", "optimizer.lr"),
            ("schedule.warmup=-100", "schedule.warmup"),
            ("schedule.pctStart=1.5", "schedule.pctStart"),
            ("balancing.alpha=-1", "balancing.alpha"),
        ])
    func outOfRange(override: String, path: String) throws {
        let message = try #require(loadError([override]), "\(override) was accepted")
        #expect(message.contains("'\(path)'"), "\(message)")
        #expect(message.contains("tiny.yaml"), "\(message)")
    }

    @Test(
        "a value that does not fit its type names the key and says what was expected",
        arguments: [
            ("model.width=1.5", "'model.width'", "not a whole number"),
            ("seed=-1", "'seed'", "outside 0...18446744073709551615"),
            ("optimizer.lr=1e300", "'optimizer.lr'", "not a finite number"),
            ("training.steps=1e30", "'training.steps'", "outside"),
            ("model.renormalize=maybe", "'model.renormalize'", "true or false"),
            ("datasets.digits.batchSize=abc", "'datasets.digits.batchSize'", "a whole number"),
            ("model=[1, 2]", "'model'", "a mapping"),
        ])
    func typeErrors(override: String, path: String, expected: String) throws {
        let message = try #require(loadError([override]), "\(override) was accepted")
        #expect(message.contains(path) && message.contains(expected), "\(message)")
        #expect(!message.contains("not valid JSON"), "\(message)")
    }

    @Test("values at the documented bounds are accepted")
    func boundsAccepted() throws {
        let r = try tinyRecipe(overrides: [
            "training.threads=256", "training.epochs=1e6", "seed=18446744073709551615", "optimizer.clip=0",
            "schedule.warmup=0", "datasets.digits.lossWeight=0", "optimizer.beta1=0",
        ])
        #expect(r.training.threads == 256 && r.seed == UInt64.max && r.datasets[0].lossWeight == 0)
    }

    @Test("a recipe that is a list, or has no datasets, says so without blaming an override")
    func wrongShape() throws {
        let list = #expect(throws: RecipeError.self) { try Recipe.parse(yaml: "- [1, 2]\n", source: "list.yaml") }
        #expect("\(list!)".contains("list.yaml") && "\(list!)".contains("mapping"))
        #expect(!"\(list!)".contains("--set"))
        let empty = #expect(throws: RecipeError.self) {
            try Recipe.parse(yaml: "name: x\ndatasets: {}\ntraining: {steps: 1}\n", source: "empty.yaml")
        }
        #expect("\(empty!)".contains("datasets"))
    }

    @Test("a FIFO or a folder in place of a recipe file is an error, not a hang")
    func recipeNotARegularFile() throws {
        try withTemporaryDirectory { dir in
            let fifo = dir.appendingPathComponent("recipe.yaml").path
            #expect(mkfifo(fifo, 0o644) == 0)
            let error = #expect(throws: RecipeError.self) { try Recipe.load(path: fifo) }
            #expect("\(error!)".contains("not a regular file"))
            #expect(throws: RecipeError.self) { try Recipe.load(path: dir.path) }
        }
    }

    @Test(
        "a stored recipe is validated like a recipe file, and errors name the checkpoint",
        arguments: [
            (#""testFraction":0.2"#, #""testFraction":-0.5"#, "testFraction"),
            (#""evalBatchSize":512"#, #""evalBatchSize":0"#, "evalBatchSize"),
            (#""batchSize":16"#, #""batchSize":1.5"#, "batchSize"),
        ])
    func storedRecipe(original: String, damaged: String, field: String) throws {
        let trainer = try tinyTrainer(try tinyRecipe())
        var checkpoint = try trainer.checkpoint()
        let json = try #require(checkpoint.metadata[RunCheckpoint.Key.recipe])
        #expect(json.contains(original), "\(json)")
        checkpoint.metadata[RunCheckpoint.Key.recipe] = json.replacingOccurrences(of: original, with: damaged)
        let error = #expect(throws: RecipeError.self) { _ = try RunCheckpoint.recipe(checkpoint, path: "run.moe") }
        #expect("\(error!)".contains("run.moe") && "\(error!)".contains(field), "\(error!)")
    }

    @Test("a stored recipe without datasets is an error")
    func storedRecipeWithoutDatasets() throws {
        var checkpoint = try tinyTrainer(try tinyRecipe()).checkpoint()
        let json = try #require(checkpoint.metadata[RunCheckpoint.Key.recipe])
        let object = try #require(try JSONSerialization.jsonObject(with: Data(json.utf8)) as? [String: Any])
        var emptied = object
        emptied["datasets"] = [Any]()
        checkpoint.metadata[RunCheckpoint.Key.recipe] = String(
            decoding: try JSONSerialization.data(withJSONObject: emptied), as: UTF8.self)
        let error = #expect(throws: RecipeError.self) { _ = try RunCheckpoint.recipe(checkpoint, path: "run.moe") }
        #expect("\(error!)".contains("datasets"))
    }

    @Test("a stored recipe may record zero training steps (prune without fine-tuning); a recipe file may not")
    func storedZeroSteps() throws {
        var checkpoint = try tinyTrainer(try tinyRecipe()).checkpoint()
        let json = try #require(checkpoint.metadata[RunCheckpoint.Key.recipe])
        checkpoint.metadata[RunCheckpoint.Key.recipe] = json.replacingOccurrences(
            of: #""steps":6"#, with: #""steps":0"#)
        #expect(try RunCheckpoint.recipe(checkpoint, path: "pruned.moe").training.steps == 0)
        #expect(loadError(["training.steps=0"])?.contains("'training.steps'") == true)
    }
}
