#if canImport(Glibc)
import Glibc
#endif

/// A live progress line on a terminal (rewritten in place), plain lines otherwise.
final class ProgressPrinter {
    private let isTerminal = isatty(STDERR_FILENO) != 0
    private var hasLiveLine = false

    /// Shows `line`; `final` lines stay on screen, others are replaced by the next one.
    func show(_ line: String, final: Bool) {
        if isTerminal {
            let text = "\r\u{1B}[2K" + line + (final ? "\n" : "")
            fputs(text, stderr)
            hasLiveLine = !final
        } else {
            fputs(line + "\n", stderr)
        }
    }

    func finish() {
        if hasLiveLine { fputs("\n", stderr) }
        hasLiveLine = false
    }
}
