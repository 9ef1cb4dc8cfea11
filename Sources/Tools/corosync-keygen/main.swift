import ArgumentParser
import Foundation
import HASupport
import Messaging

/// corosync-keygen: creates the cluster's authkey, with corosync-keygen's options.
///
/// The key is written to `etc/corosync/authkey` under the node root (`--root DIR` or
/// `SWIFTHA_ROOT`; `/` by default), or to the file given with `-k`. It is 256 random bytes (or
/// `-s` bytes) from the system's secure generator, mode 0400, written atomically. Unlike
/// corosync's, an existing key is never replaced unless `--force` is given: replacing the key of
/// a running cluster splits it.
struct CorosyncKeygen: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "corosync-keygen",
        abstract: "Generate an authentication key for the cluster.",
        discussion: """
        The key must be copied to every node (install -D --mode=0400 authkey /etc/corosync/authkey); \
        nodes with different keys never join one configuration. Exit status 0 on success, 1 when \
        the key could not be written or already exists, 64 on a usage error.
        """)

    @Option(name: .customShort("k"), help: ArgumentHelp("The key file to create (default: etc/corosync/authkey under the node root).", valueName: "filename"))
    var keyFile: String?

    @Option(name: [.customShort("r"), .customShort("m")],
            help: ArgumentHelp("Read the key from this random source file instead of the system's secure generator.", valueName: "randomfile"))
    var randomFile: String?

    @Option(name: .customShort("s"), help: ArgumentHelp("Key size in bytes, \(AuthKey.allowedSizes.lowerBound) to \(AuthKey.allowedSizes.upperBound).", valueName: "size"))
    var size: Int = AuthKey.defaultSize

    @Flag(name: .customShort("l"), help: "Ignored; kept for compatibility with older corosync-keygen.")
    var lessSecure = false

    @Flag(name: .long, help: "Replace an existing key file.")
    var force = false

    @Option(name: .long, help: ArgumentHelp("The node's root directory (default: $SWIFTHA_ROOT, else /).", valueName: "DIR"))
    var root: String?

    func validate() throws {
        guard AuthKey.allowedSizes.contains(size) else {
            throw ValidationError("key size \(size) is outside \(AuthKey.allowedSizes.lowerBound) to \(AuthKey.allowedSizes.upperBound) bytes; pick a size in that range (the default is \(AuthKey.defaultSize))")
        }
    }

    func run() throws {
        let env = NodeEnvironment(root: root)
        let path = keyFile ?? env.authkey
        print("Corosync Cluster Engine Authentication key generator.")
        print("Gathering \(size * 8) bits for key from \(randomFile ?? "the system's secure random generator (getrandom)").")
        let key: AuthKey
        do {
            if let randomFile {
                key = try AuthKey(bytes: try readRandom(from: randomFile, count: size))
            } else {
                key = try AuthKey.generate(size: size)
            }
            print("Writing corosync key to \(path).")
            try key.write(to: path, overwrite: force)
        } catch let error as AuthKeyError {
            fail(error.message)
        } catch let error as RandomSourceError {
            fail(error.message)
        }
    }

    struct RandomSourceError: Error { var message: String }

    func readRandom(from file: String, count: Int) throws(RandomSourceError) -> [UInt8] {
        guard let handle = FileHandle(forReadingAtPath: file) else {
            throw RandomSourceError(message: "\(file): cannot open the random source; check the path (for example /dev/urandom) or leave out -r")
        }
        defer { try? handle.close() }
        var bytes: [UInt8] = []
        while bytes.count < count {
            guard let chunk = try? handle.read(upToCount: count - bytes.count), !chunk.isEmpty else {
                throw RandomSourceError(message: "\(file): the random source gave only \(bytes.count) of \(count) bytes; use a device such as /dev/urandom, or leave out -r")
            }
            bytes.append(contentsOf: chunk)
        }
        return bytes
    }

    func fail(_ message: String) -> Never {
        FileHandle.standardError.write(Data("corosync-keygen: \(message)\n".utf8))
        HASupport.exit(.error)
    }
}

CorosyncKeygen.main()
