import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// Ctrl-C handling: the first SIGINT or SIGTERM asks the training loop to save and stop at
/// the next step boundary; a second one exits at once. SIGTERM counts because that is how
/// the stop reaches the ranks under `mpirun` (on Ctrl-C it sends each rank SIGTERM, then
/// SIGKILL after `odls_base_sigkill_timeout` seconds) and how Slurm warns of a time limit.
public enum Interrupt {
    static let requested = Atomic<Int>(0)

    /// Installs the SIGINT and SIGTERM handlers.
    public static func install() {
        for signalNumber in [SIGINT, SIGTERM] {
            signal(signalNumber) { _ in
                if Interrupt.requested.add(1, ordering: .relaxed).newValue > 1 { _exit(130) }
            }
        }
    }

    /// Whether the user asked to stop.
    public static var isRequested: Bool { requested.load(ordering: .relaxed) > 0 }

    /// Clears the request (tests).
    public static func reset() { requested.store(0, ordering: .relaxed) }
}
