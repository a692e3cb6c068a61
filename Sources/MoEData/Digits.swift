import MoETensor

/// scikit-learn's handwritten digits: 1797 grayscale 8×8 images in 10 classes, read from
/// the `digits.csv.gz` shipped by the Debian package `python3-sklearn`.
///
/// Each CSV row holds 64 pixel values in 0...16 (row-major) followed by the label. Pixels
/// are rescaled to the 0...255 byte range as `p = round(v · 255 / 16)` (so 0 → 0, 1 → 16,
/// 8 → 128, 16 → 255), which keeps `ImageDataset`'s `(p / 255 − mean) / std`
/// normalisation meaning the same thing for every dataset.
public enum Digits {
    /// Where `python3-sklearn` installs the file.
    public static let defaultPath = "/usr/lib/python3/dist-packages/sklearn/datasets/data/digits.csv.gz"
    /// Tells a user how to get the file when it is missing.
    public static let installHint = "install it with: apt-get install python3-sklearn"
    /// Image side.
    public static let side = 8
    /// Number of classes.
    public static let classes = 10

    /// Loads the whole dataset (gzip-compressed or plain CSV).
    ///
    /// `mean` and `std` are the mean and population standard deviation of `p / 255` over
    /// every pixel of the loaded file (≈ 0.305 and ≈ 0.376 for the scikit-learn data); both
    /// halves of `split` keep these statistics.
    /// - Throws: `DataError.fileNotFound` naming the path and the package to install;
    ///   `DataError.corrupt` for a bad gzip stream, a row without 65 values, a value that is
    ///   not an integer, a pixel outside 0...16 or a label outside 0...9 (with the line
    ///   number), or a file without rows.
    public static func load(path: String = defaultPath) throws -> ImageDataset {
        try decode(try withInstallHint(installHint) { try Gzip.readFile(path) }, path: path)
    }

    /// Parses the CSV text of the digits file (already gunzipped); `path` names it in errors.
    public static func decode(_ text: [UInt8], path: String) throws -> ImageDataset {
        let fieldsPerRow = side * side + 1
        var pixels = [UInt8]()
        var labels = [Int32]()
        pixels.reserveCapacity(1797 * side * side)
        labels.reserveCapacity(1797)
        var row = [Int](repeating: 0, count: fieldsPerRow)

        try text.withUnsafeBufferPointer { bytes in
            let n = bytes.count
            var start = 0
            var line = 0
            while start < n {
                line += 1
                var end = start
                while end < n && bytes[end] != UInt8(ascii: "\n") { end += 1 }
                defer { start = end + 1 }
                var stop = end
                if stop > start && bytes[stop - 1] == UInt8(ascii: "\r") { stop -= 1 }
                if (start..<stop).allSatisfy({ bytes[$0] == UInt8(ascii: " ") || bytes[$0] == UInt8(ascii: "\t") }) {
                    continue  // blank line
                }
                // Parse comma-separated non-negative integers, spaces allowed around them.
                var field = 0
                var i = start
                while true {
                    while i < stop && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t")) { i += 1 }
                    var value = 0
                    var digits = 0
                    while i < stop, bytes[i] >= UInt8(ascii: "0"), bytes[i] <= UInt8(ascii: "9"), digits < 9 {
                        value = value * 10 + Int(bytes[i] - UInt8(ascii: "0"))
                        digits += 1
                        i += 1
                    }
                    while i < stop && (bytes[i] == UInt8(ascii: " ") || bytes[i] == UInt8(ascii: "\t")) { i += 1 }
                    guard digits > 0, i == stop || bytes[i] == UInt8(ascii: ",") else {
                        let bad = String(decoding: bytes[start..<stop].prefix(60), as: UTF8.self)
                        throw DataError.corrupt(
                            path: path,
                            detail: "line \(line): field \(field + 1) is not a non-negative integer in \"\(bad)\"")
                    }
                    if field < fieldsPerRow { row[field] = value }
                    field += 1
                    if i == stop { break }
                    i += 1  // skip the comma
                }
                guard field == fieldsPerRow else {
                    throw DataError.corrupt(
                        path: path,
                        detail: "line \(line): expected \(fieldsPerRow) comma-separated values, found \(field)")
                }
                for k in 0..<(fieldsPerRow - 1) {
                    let v = row[k]
                    guard v <= 16 else {
                        throw DataError.corrupt(
                            path: path, detail: "line \(line): pixel \(k + 1) is \(v), outside 0...16")
                    }
                    pixels.append(UInt8((v * 255 + 8) / 16))
                }
                let label = row[fieldsPerRow - 1]
                guard label < classes else {
                    throw DataError.corrupt(
                        path: path, detail: "line \(line): label \(label) is outside 0..<\(classes)")
                }
                labels.append(Int32(label))
            }
        }
        guard !labels.isEmpty else { throw DataError.corrupt(path: path, detail: "no data rows") }
        let stats = ImageDataset.statistics(of: pixels)
        return try ImageDataset(
            name: "digits", channels: 1, height: side, width: side,
            pixels: pixels, labels: labels, classes: classes, mean: stats.mean, std: stats.std)
    }

    /// Splits `d` into disjoint train and test sets covering every image once.
    ///
    /// The test set holds `round(count × testFraction)` images drawn by a seeded permutation
    /// (`SeededGenerator(seed:)`), so the same seed always gives the same split. Both parts
    /// keep the original image order and `d`'s normalisation statistics, and are named
    /// `"<name>-train"` / `"<name>-test"`. Not stratified. `testFraction` must be in 0...1.
    public static func split(_ d: ImageDataset, testFraction: Double, seed: UInt64) -> (
        train: ImageDataset, test: ImageDataset
    ) {
        precondition((0...1).contains(testFraction), "testFraction \(testFraction) must be in 0...1")
        let testCount = Int((Double(d.count) * testFraction).rounded())
        var generator = SeededGenerator(seed: seed)
        let order = generator.permutation(d.count)
        let test = order[..<testCount].sorted()
        let train = order[testCount...].sorted()
        return (d.subset(train, name: "\(d.name)-train"), d.subset(test, name: "\(d.name)-test"))
    }
}
