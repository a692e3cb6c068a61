import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C handling: the first SIGINT asks the training loop to save and stop at the next
/// step boundary; a second one exits at once.
public enum Interrupt {
    static let requested = Atomic<Int>(0)

    /// Installs the SIGINT handler.
    public static func install() {
        signal(SIGINT) { _ in
            if Interrupt.requested.add(1, ordering: .relaxed).newValue > 1 { _exit(130) }
        }
    }

    /// Whether the user asked to stop.
    public static var isRequested: Bool { requested.load(ordering: .relaxed) > 0 }

    /// Clears the request (tests).
    public static func reset() { requested.store(0, ordering: .relaxed) }
}
