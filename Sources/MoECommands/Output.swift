import Foundation

/// Writes a line to standard output unbuffered, so results interleave correctly with the
/// progress lines on standard error.
func say(_ line: String) {
    FileHandle.standardOutput.write(Data((line + "\n").utf8))
}

/// Writes a line to standard error (notes that must not mix with JSON on standard output).
func sayOnStandardError(_ line: String) {
    FileHandle.standardError.write(Data((line + "\n").utf8))
}
