import ArgumentParser

public struct MoECommand: ParsableCommand {
    public static let configuration = CommandConfiguration(commandName: "moe")
    public init() {}
}
