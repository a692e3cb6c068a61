import Foundation
import MoEImage
import Testing

/// The images written by `scripts/make-test-images.py` and Pillow's pixels for them
/// (manifest.json), generated once per test process into a temporary directory that is
/// removed at exit. Needs python3 with Pillow, NumPy and scikit-learn (scripts/setup.sh
/// installs python3-pil and python3-sklearn); without them every fixture test fails with
/// `FixtureError`'s message — they are not skipped.
struct Fixtures: Sendable {
    struct Image: Decodable, Sendable {
        var file: String
        var kind: String
        var format: String
        var mode: String
        var width: Int
        var height: Int
        var gray: String
        var rgb: String
        var raw: String?
        enum CodingKeys: String, CodingKey {
            case file, kind, format, mode, width, height, raw
            case gray = "L"
            case rgb = "RGB"
        }
    }
    struct Draft: Decodable, Sendable {
        var file: String
        var request: [Int]
        var width: Int
        var height: Int
        var scale: Int
        var rgb: String
        enum CodingKeys: String, CodingKey {
            case file, request, width, height, scale
            case rgb = "RGB"
        }
    }
    struct Resize: Decodable, Sendable {
        var file: String
        var mode: String
        var width: Int
        var height: Int
        var filter: String
        var pixels: String
    }
    struct Broken: Decodable, Sendable {
        var file: String
        var error: String
        var pillow: String
    }
    struct Manifest: Decodable, Sendable {
        var pillow: String
        var images: [Image]
        var drafts: [Draft]
        var resizes: [Resize]
        var errors: [Broken]
    }

    var directory: String
    var manifest: Manifest

    func path(_ file: String) -> String { directory + "/" + file }

    func image(_ file: String) throws -> Image {
        try #require(manifest.images.first { $0.file == file }, "\(file) is missing from manifest.json")
    }

    /// The fixtures, generated on first use; throws `FixtureError` if that failed.
    static func load() throws -> Fixtures { try shared.get() }

    private static let shared: Result<Fixtures, FixtureError> = Result { try generate() }
        .mapError { $0 as? FixtureError ?? FixtureError(message: "\($0)") }

    private static func generate() throws -> Fixtures {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent()
        let script = root.appendingPathComponent("scripts/make-test-images.py").path
        let python = try findPython()
        try FileManager.default.createDirectory(atPath: fixtureDirectory, withIntermediateDirectories: true)
        atexit { try? FileManager.default.removeItem(atPath: fixtureDirectory) }
        let (status, output) = try run(python, [script, fixtureDirectory])
        guard status == 0 else {
            throw FixtureError(message: "\(python) \(script) failed (exit \(status)):\n\(output)")
        }
        let data = try Data(contentsOf: URL(fileURLWithPath: fixtureDirectory + "/manifest.json"))
        return Fixtures(directory: fixtureDirectory, manifest: try JSONDecoder().decode(Manifest.self, from: data))
    }

    /// $MOE_PYTHON, else the first of `python3` (PATH) and /usr/bin/python3 (where apt's
    /// python3-pil goes) that imports PIL, numpy and sklearn.
    private static func findPython() throws -> String {
        let environment = ProcessInfo.processInfo.environment["MOE_PYTHON"]
        let candidates = environment.map { [$0] } ?? ["python3", "/usr/bin/python3"]
        var tried: [String] = []
        for candidate in candidates {
            let (status, output) = (try? run(candidate, ["-c", "import PIL, numpy, sklearn"])) ?? (-1, "not runnable")
            if status == 0 { return candidate }
            tried.append("\(candidate): \(output.split(separator: "\n").last ?? "exit \(status)")")
        }
        throw FixtureError(
            message: "the MoEImage tests need python3 with Pillow, NumPy and scikit-learn to generate their "
                + "fixtures, and none was found (tried \(tried.joined(separator: "; "))). "
                + "Run scripts/setup.sh (it installs python3-pil and python3-sklearn), "
                + "or set MOE_PYTHON to a python3 that has them.")
    }

    /// Runs `program` (found on PATH by /usr/bin/env) and returns its status and output.
    private static func run(_ program: String, _ arguments: [String]) throws -> (Int32, String) {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
        process.arguments = [program] + arguments
        let pipe = Pipe()
        process.standardOutput = pipe
        process.standardError = pipe
        try process.run()
        let output = pipe.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: output, as: UTF8.self))
    }
}

/// Why the fixtures could not be generated.
struct FixtureError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

/// Where this test process writes its fixtures.
private let fixtureDirectory = FileManager.default.temporaryDirectory
    .appendingPathComponent("moe-image-fixtures-\(ProcessInfo.processInfo.processIdentifier)").path

/// Bytes of a manifest base64 field.
func bytes(_ base64: String) -> [UInt8] {
    [UInt8](Data(base64Encoded: base64) ?? Data())
}

/// The largest |a[i] − b[i]|, or Int.max if the lengths differ.
func maxDifference(_ a: [UInt8], _ b: [UInt8]) -> Int {
    guard a.count == b.count else { return Int.max }
    return zip(a, b).reduce(0) { max($0, abs(Int($1.0) - Int($1.1))) }
}
