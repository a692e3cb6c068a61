import MoECommands

@main
struct Entrypoint {
    static func main() { MoECommand.main() }
}
