import Controller
import LocalIPC

/// crmd's local socket, for the tools (`crm history`): the requests, replies and events of
/// `Controller`'s history exchange carried over LocalIPC. Apart from `Controller`, which must
/// not import the socket layer (NIO), as CIBClient is apart from CIB.
public enum ControllerAPI: LocalIPCProtocol {
    public typealias Request = ControllerRequest
    public typealias Reply = ControllerReply
    public typealias Event = ControllerEvent
    public static let name = "crmd"

    /// The socket's file name in the node's socket directory.
    public static let socketName = "crmd.sock"

    /// The socket of the crmd of the node with this root: `<root>/run/swiftha/crmd.sock`.
    public static func socketPath(root: String) -> String {
        (root.hasSuffix("/") ? root : root + "/") + "run/swiftha/" + socketName
    }

    /// The largest frame on crmd's socket: the answers of every node in one reply.
    public static let maximumFrameSize = 96 * 1024 * 1024
}

