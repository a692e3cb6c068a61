import Foundation
import MoEData
import Testing

let digits = Result { try Digits.load() }

@Suite struct DigitsTests {
    @Test func loadsRealFile() throws {
        let d = try digits.get()
        #expect(d.count == 1797)
        #expect(d.channels == 1 && d.height == 8 && d.width == 8)
        #expect(d.classes == 10)
        #expect(d.pixels.count == 1797 * 64)
        #expect(d.classCounts().allSatisfy { $0 >= 170 })
        #expect(Array(d.labels.prefix(12)) == [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0, 1])
        // First row: 0,0,5,13,9,1,0,0, … scaled by round(v · 255 / 16).
        #expect(Array(d.pixels.prefix(8)) == [0, 0, 80, 207, 143, 16, 0, 0])
        #expect(d.pixels.max() == 255)
        // Statistics computed over the data (NumPy: mean 0.3053, std 0.3760 of v / 16).
        #expect(abs(d.mean - 0.3053) < 0.002, "\(d.mean)")
        #expect(abs(d.std - 0.3760) < 0.002, "\(d.std)")
        let all = d.makeBatch(indices: 0..<d.count).images
        let (mean, std) = meanStd(all.storage)
        #expect(abs(mean) < 1e-3 && abs(std - 1) < 1e-3)
    }

    @Test func splitSizesAndDeterminism() throws {
        let d = try digits.get()
        let a = Digits.split(d, testFraction: 0.2, seed: 42)
        let b = Digits.split(d, testFraction: 0.2, seed: 42)
        let c = Digits.split(d, testFraction: 0.2, seed: 43)
        #expect(a.test.count == 359)  // round(1797 × 0.2)
        #expect(a.train.count == 1797 - 359)
        #expect(a.train.pixels == b.train.pixels && a.train.labels == b.train.labels)
        #expect(a.test.pixels == b.test.pixels && a.test.labels == b.test.labels)
        #expect(a.test.pixels != c.test.pixels)
        #expect(a.train.mean == d.mean && a.test.std == d.std)
        #expect(a.train.name == "digits-train" && a.test.name == "digits-test")
        // Together the halves are the whole dataset, each image once.
        var combined = [Int](repeating: 0, count: 10)
        for (i, n) in a.train.classCounts().enumerated() { combined[i] += n }
        for (i, n) in a.test.classCounts().enumerated() { combined[i] += n }
        #expect(combined == d.classCounts())
        let rows = { (s: ImageDataset) in
            (0..<s.count).map { Array(s.pixels[($0 * 64)..<($0 * 64 + 64)]) + [UInt8(s.labels[$0])] }
        }
        let original = rows(d).map { $0.description }.sorted()
        let rejoined = (rows(a.train) + rows(a.test)).map { $0.description }.sorted()
        #expect(original == rejoined)
        // Edge fractions.
        #expect(Digits.split(d, testFraction: 0, seed: 1).test.count == 0)
        #expect(Digits.split(d, testFraction: 1, seed: 1).train.count == 0)
    }

    @Test func missingFileNamesPackage() {
        let error = #expect(throws: DataError.self) { try Digits.load(path: "/nonexistent/digits.csv.gz") }
        #expect(
            error
                == .fileNotFound(
                    path: "/nonexistent/digits.csv.gz", hint: "install it with: apt-get install python3-sklearn"))
        #expect(error?.description.contains("python3-sklearn") == true)
    }

    @Test func plainCSVAndBadRows() throws {
        let dir = try TempDir()
        defer { dir.cleanup() }
        let good = (0..<64).map { String($0 % 17) }.joined(separator: ",") + ",7"
        try dir.write("ok.csv", Array((good + "\r\n" + good + "\n\n").utf8))
        let ok = try Digits.load(path: dir.file("ok.csv"))
        #expect(ok.count == 2 && ok.labels == [7, 7])
        #expect(ok.pixels[16] == 255 && ok.pixels[1] == 16)

        let short = (0..<63).map { _ in "1" }.joined(separator: ",") + ",3"
        let cases: [(String, String, String)] = [
            ("short.csv.gz", good + "\n" + short + "\n", "line 2: expected 65"),
            ("word.csv.gz", good + "\n" + good + "\n" + good.dropLast(1) + "x" + "\n", "line 3: field 65"),
            ("pixel.csv.gz", "17" + good.dropFirst(1) + "\n", "line 1: pixel 1 is 17"),
            ("label.csv.gz", good.dropLast(1) + "10\n", "line 1: label 10"),
            ("empty.csv.gz", "\n", "no data rows"),
        ]
        for (name, text, expected) in cases {
            try dir.write(name, Gzip.compress(Array(text.utf8)))
            let error = #expect(throws: DataError.self, "\(name)") { try Digits.load(path: dir.file(name)) }
            guard case .corrupt(let path, let detail)? = error else {
                Issue.record("\(name): expected .corrupt, got \(String(describing: error))")
                continue
            }
            #expect(path == dir.file(name))
            #expect(detail.contains(expected), "\(name): \(detail)")
        }
    }
}
