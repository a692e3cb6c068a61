import Foundation
import MoEModel
import MoETestSupport
import Testing

@testable import MoERecipe
@testable import MoETraining

/// The shipped recipes in `recipes/`, found from this file's location.
let shippedRecipes: [String] = {
    let directory = repositoryRoot.appendingPathComponent("recipes")
    let names = (try? FileManager.default.contentsOfDirectory(atPath: directory.path)) ?? []
    return names.filter { $0.hasSuffix(".yaml") }.sorted()
}()

/// Every recipe shipped in `recipes/` loads, validates and survives the JSON round trip that
/// puts it into checkpoints.
@Suite struct ShippedRecipeTests {
    @Test("the recipes folder holds the three shipped recipes")
    func recipesAreFound() {
        #expect(Set(shippedRecipes).isSuperset(of: ["fmnist.yaml", "fmnist-cosine.yaml", "fmnist-dense.yaml"]))
    }

    @Test("every shipped recipe parses, validates and is named after its file", arguments: shippedRecipes)
    func parses(file: String) throws {
        let path = repositoryRoot.appendingPathComponent("recipes/\(file)").path
        let recipe = try Recipe.load(path: path)
        #expect(recipe.name + ".yaml" == file)
        #expect(!recipe.datasets.isEmpty)
        #expect(recipe.training.steps != nil || recipe.training.epochs != nil)
        #expect(recipe.outputPath == "checkpoints/\(recipe.name)/\(recipe.name).moe")
    }

    @Test("every shipped recipe equals itself after Recipe → JSON → Recipe", arguments: shippedRecipes)
    func jsonRoundTrip(file: String) throws {
        let recipe = try Recipe.load(path: repositoryRoot.appendingPathComponent("recipes/\(file)").path)
        let decoded = try JSONDecoder().decode(Recipe.self, from: Data(try recipe.jsonString().utf8))
        #expect(decoded == recipe)
    }
}

/// `--set key.path=value` edits the YAML tree before typed decoding: nested keys, YAML 1.1
/// scalars that must decode as numbers or booleans, quoted strings, per-dataset settings.
@Suite struct RecipeOverrideTests {
    @Test("without overrides the tiny recipe decodes to what its YAML says")
    func baseline() throws {
        let r = try tinyRecipe(datasets: [TinyDataset(name: "a", samplingWeight: 3), TinyDataset(name: "b")])
        #expect(r.name == "tiny" && r.seed == 7)
        #expect(r.model.width == 16 && r.model.depth == 2 && r.model.experts == 4 && r.model.topK == 2)
        #expect(r.datasets.map(\.name) == ["a", "b"], "dataset order follows the YAML mapping")
        #expect(r.datasets.map(\.samplingWeight) == [3, 1])
        #expect(r.datasets.allSatisfy { $0.source == .digits && $0.batchSize == 16 && $0.path == nil })
        #expect(r.optimizer.kind == .adamw && r.optimizer.learningRate == 3e-3)
        #expect(r.training.steps == 6 && r.output == nil)
    }

    @Test("nested keys are overridden and later overrides win")
    func nested() throws {
        let r = try tinyRecipe(overrides: ["model.depth=3", "model.width=32", "model.depth=4", "seed=99"])
        #expect(r.model.depth == 4 && r.model.width == 32 && r.seed == 99)
    }

    @Test(
        "a YAML 1.1 exponent without a dot decodes as a number",
        arguments: [
            ("optimizer.lr=2e-3", Float(2e-3)), ("optimizer.lr=1.5E-4", Float(1.5e-4)), ("optimizer.lr=1", Float(1)),
        ])
    func exponent(override: String, expected: Float) throws {
        let r = try tinyRecipe(overrides: [override])
        #expect(r.optimizer.learningRate == expected)
    }

    @Test("booleans accept true/false and YAML 1.1 yes/no")
    func booleans() throws {
        let on = try tinyRecipe(overrides: ["model.renormalize=true", "optimizer.nesterov=yes"])
        #expect(on.model.renormalize && on.optimizer.nesterov)
        let off = try tinyRecipe(overrides: ["model.renormalize=false", "optimizer.nesterov=no"])
        #expect(!off.model.renormalize && !off.optimizer.nesterov)
    }

    @Test("quoted values stay strings, even when they look like numbers")
    func quotedStrings() throws {
        let r = try tinyRecipe(overrides: [#"name="123""#, #"output="runs/a b/x.moe""#, "optimizer.kind='sgd'"])
        #expect(r.name == "123")
        #expect(r.output == "runs/a b/x.moe" && r.outputPath == "runs/a b/x.moe")
        #expect(r.optimizer.kind == .sgd)
        // Unquoted, the same text is a number and cannot be a name.
        #expect(throws: RecipeError.self) { try tinyRecipe(overrides: ["name=123"]) }
    }

    @Test("per-dataset settings are reached through datasets.<name>.<key>")
    func datasetSettings() throws {
        let r = try tinyRecipe(
            datasets: [TinyDataset(name: "a"), TinyDataset(name: "b")],
            overrides: ["datasets.b.batchSize=48", "datasets.a.samplingWeight=2.5", "datasets.b.lossWeight=0.5"])
        #expect(r.datasets.map(\.batchSize) == [16, 48])
        #expect(r.datasets.map(\.samplingWeight) == [2.5, 1])
        #expect(r.datasets.map(\.lossWeight) == [1, 0.5])
    }

    @Test("an override can add a dataset and a whole section")
    func addsEntries() throws {
        let r = try tinyRecipe(overrides: [
            "datasets.extra.source=digits", "datasets.extra.batchSize=8", "training.evalEvery=3",
        ])
        #expect(r.datasets.map(\.name) == ["digits", "extra"])
        #expect(r.datasets[1].batchSize == 8 && r.training.evalEvery == 3)
    }

    @Test(
        "malformed overrides are rejected naming the override",
        arguments: ["model.depth", "=3", "model..depth=3", "name.x=1"])
    func malformed(override: String) throws {
        let error = thrown(RecipeError.self) { _ = try tinyRecipe(overrides: [override]) }
        guard case .override? = error else {
            Issue.record("expected RecipeError.override, got \(String(describing: error))")
            return
        }
        #expect(error!.description.hasPrefix("--set '"))
    }

    @Test("the tiny recipe with two datasets survives Recipe → JSON → Recipe")
    func jsonRoundTrip() throws {
        let r = try tinyRecipe(
            datasets: [TinyDataset(name: "a", samplingWeight: 3), TinyDataset(name: "b", batchSize: 8)],
            overrides: [
                "output=x/y.moe", "training.epochs=2.5", "datasets.a.lossWeight=0.25",
                "model.expertHidden=12", "schedule.kind=onecycle", "optimizer.clip=1.5",
            ])
        let decoded = try JSONDecoder().decode(Recipe.self, from: Data(try r.jsonString().utf8))
        #expect(decoded == r)
        #expect(decoded.model.expertHidden == 12 && decoded.training.epochs == 2.5)
    }
}

/// Every recipe mistake throws a `RecipeError` whose message names the file and the key
/// path (or the value) at fault, instead of being ignored or trapping.
@Suite struct RecipeErrorTests {
    @Test(
        "an unknown key in an override names the file and the key path",
        arguments: [
            ("optimiser.lr=1e-3", "optimiser"), ("model.widht=32", "model.widht"),
            ("datasets.digits.batchsize=8", "datasets.digits.batchsize"), ("training.step=5", "training.step"),
        ])
    func unknownKeyOverride(override: String, path: String) throws {
        try withTemporaryDirectory { dir in
            let file = dir.appendingPathComponent("recipe.yaml")
            try tinyRecipeYAML().write(to: file, atomically: true, encoding: .utf8)
            let error = thrown(RecipeError.self) { _ = try Recipe.load(path: file.path, overrides: [override]) }
            guard case .unknownKey(let f, let p, let known)? = error else {
                Issue.record("expected unknownKey, got \(String(describing: error))")
                return
            }
            #expect(f == file.path && p == path && !known.isEmpty)
            #expect(error!.description.contains(file.path))
            #expect(error!.description.contains("'\(path)'"))
        }
    }

    @Test("an unknown key in the YAML file itself is reported with the expected keys")
    func unknownKeyInFile() throws {
        let yaml = tinyRecipeYAML().replacingOccurrences(of: "  heads: 2", with: "  heads: 2\n  hedas: 2")
        let error = thrown(RecipeError.self) { _ = try Recipe.parse(yaml: yaml, source: "typo.yaml") }
        #expect(error == .unknownKey(file: "typo.yaml", path: "model.hedas", known: Recipe.schema["model"]!))
        #expect(error?.description.contains("heads") == true, "the message lists the valid keys")
    }

    @Test(
        "a value that decodes but makes no sense names its key path",
        arguments: [
            ("training.steps=0", "training.steps"), ("model.topK=99", "model.topK"),
            ("datasets.digits.batchSize=0", "datasets.digits.batchSize"), ("optimizer.lr=0", "optimizer.lr"),
            ("datasets.digits.testFraction=1", "datasets.digits.testFraction"), ("model.heads=3", "model.heads"),
            ("training.threads=0", "training.threads"), ("name=a/b", "name"),
        ])
    func badValue(override: String, path: String) throws {
        let error = thrown(RecipeError.self) { _ = try tinyRecipe(overrides: [override]) }
        guard case .badValue(let file, let p, _)? = error else {
            Issue.record("expected badValue, got \(String(describing: error))")
            return
        }
        #expect(file == "tiny.yaml" && p == path)
        #expect(error!.description.contains("tiny.yaml") && error!.description.contains("'\(path)'"))
    }

    @Test(
        "a value of the wrong type names its key path",
        arguments: [
            ("optimizer.kind=adam", "optimizer.kind"), ("model.depth=deep", "model.depth"),
            ("datasets.digits.source=mnist", "datasets.digits.source"),
        ])
    func wrongType(override: String, path: String) throws {
        let error = thrown(RecipeError.self) { _ = try tinyRecipe(overrides: [override]) }
        guard case .invalid(let file, let detail)? = error else {
            Issue.record("expected invalid, got \(String(describing: error))")
            return
        }
        #expect(file == "tiny.yaml" && detail.contains("'\(path)'"))
    }

    @Test("a recipe without datasets is rejected")
    func missingDatasets() throws {
        let yaml = "name: x\ntraining:\n  steps: 3\n"
        let error = thrown(RecipeError.self) { _ = try Recipe.parse(yaml: yaml, source: "nodata.yaml") }
        guard case .invalid(let file, let detail)? = error else {
            Issue.record("expected invalid, got \(String(describing: error))")
            return
        }
        #expect(file == "nodata.yaml" && detail.contains("datasets"))
        let empty = thrown(RecipeError.self) {
            _ = try Recipe.parse(yaml: yaml + "datasets: {}\n", source: "nodata.yaml")
        }
        #expect(empty?.description.contains("datasets") == true)
    }

    @Test("a recipe without steps or epochs is rejected")
    func missingLength() throws {
        let yaml = tinyRecipeYAML().replacingOccurrences(of: "  steps: 6\n", with: "")
        let error = thrown(RecipeError.self) { _ = try Recipe.parse(yaml: yaml, source: "t.yaml") }
        #expect(error?.description.contains("training.steps or training.epochs") == true)
    }

    @Test(
        "invalid YAML is a syntax error naming the file",
        arguments: [
            "name: [unclosed\n", "name: x\n  model: : :\n\tbad", "name: 'unterminated\n", "a: 1\na: 2\n",
        ])
    func invalidYAML(yaml: String) throws {
        let error = thrown(RecipeError.self) { _ = try Recipe.parse(yaml: yaml, source: "broken.yaml") }
        guard case .syntax(let file, _)? = error else {
            Issue.record("expected syntax, got \(String(describing: error))")
            return
        }
        #expect(file == "broken.yaml")
        #expect(error!.description.hasPrefix("broken.yaml: not valid YAML"))
    }

    @Test("a recipe that is not a mapping is rejected")
    func notAMapping() throws {
        #expect(throws: RecipeError.self) { try Recipe.parse(yaml: "- a\n- b\n", source: "list.yaml") }
    }

    @Test("a missing file is reported with its path")
    func missingFile() throws {
        let path = FileManager.default.temporaryDirectory.appendingPathComponent("no-such-\(UUID().uuidString).yaml")
            .path
        let error = thrown(RecipeError.self) { _ = try Recipe.load(path: path) }
        #expect(error == .fileNotFound(path))
        #expect(error?.description.contains(path) == true)
    }
}
