// TEMPORARY until the tasks branch lands.
import MoEData
public enum TaskTargets: Sendable { case labels([Int32]); case masks([Int32]); case boxes([[Box]]) }
