import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A live progress line on a terminal (rewritten in place), plain lines otherwise.
final class ProgressPrinter {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var hasLiveLine = false

    /// Shows `line`; `final` lines stay on screen, others are replaced by the next one.
    func show(_ line: String, final: Bool) {
        guard !isSecondaryRank else { return }
        if isTerminal {
            write("\r\u{1B}[2K" + line + (final ? "\n" : ""))
            hasLiveLine = !final
        } else {
            write(line + "\n")
        }
    }

    func finish() {
        if hasLiveLine { write("\n") }
        hasLiveLine = false
    }

    private func write(_ text: String) {
        FileHandle.standardError.write(Data(text.utf8))
    }
}
