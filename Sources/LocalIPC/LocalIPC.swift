/// Local IPC between SwiftHA's daemons and tools: framed messages over Unix sockets under the
/// node root, with the peer's credentials checked. (Being written: issue #5.)
public enum LocalIPC {}
