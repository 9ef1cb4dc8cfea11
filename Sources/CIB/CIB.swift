#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
#if canImport(Glibc)
import Glibc
#endif

/// What went wrong with a CIB operation, with the category a tool turns into its exit code.
public struct CIBError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The category of the problem.
    public enum Kind: Sendable, Equatable {
        /// The bytes are not well-formed XML.
        case malformed
        /// Well-formed, but not a CIB, or it breaks the schema or the semantic rules.
        case invalid
        /// Nothing matched the request.
        case notFound
        /// An element with that id already exists.
        case exists
        /// A patch or update made for another version of the CIB.
        case versionMismatch
        /// A digest did not match its content.
        case digestMismatch
        /// Reading or writing a file failed.
        case io
        /// The request itself is ill-formed (bad XPath, missing argument...).
        case badRequest
        /// More than one element matched where one was required.
        case multiple
        /// A configuration change asked of a cluster partition without quorum (Pacemaker's
        /// "Write requires quorum").
        case noQuorum
    }

    public var kind: Kind
    /// One line: what is wrong, where, and what to do about it.
    public var message: String

    public init(_ kind: Kind, _ message: String) {
        self.kind = kind
        self.message = message
    }

    public var description: String { message }

    static func from(_ e: XMLParseError) -> CIBError {
        CIBError(.malformed, e.description)
    }
}

/// The three counters that order CIB versions: admin_epoch, then epoch, then num_updates.
///
/// A configuration change bumps `epoch` and resets `numUpdates`; a status change bumps
/// `numUpdates`; `adminEpoch` is only ever raised by an administrator.
public struct CIBVersion: Comparable, Hashable, Sendable, CustomStringConvertible {
    public var adminEpoch: Int
    public var epoch: Int
    public var numUpdates: Int

    public init(adminEpoch: Int = 0, epoch: Int = 0, numUpdates: Int = 0) {
        self.adminEpoch = adminEpoch
        self.epoch = epoch
        self.numUpdates = numUpdates
    }

    public static func < (a: CIBVersion, b: CIBVersion) -> Bool {
        (a.adminEpoch, a.epoch, a.numUpdates) < (b.adminEpoch, b.epoch, b.numUpdates)
    }

    /// "admin_epoch.epoch.num_updates", as Pacemaker prints versions.
    public var description: String { "\(adminEpoch).\(epoch).\(numUpdates)" }

    /// Reads the counters from an element's attributes (missing ones count as 0).
    public init(attributesOf e: XElement) {
        adminEpoch = Int(e["admin_epoch"] ?? "") ?? 0
        epoch = Int(e["epoch"] ?? "") ?? 0
        numUpdates = Int(e["num_updates"] ?? "") ?? 0
    }

    /// Writes the counters into an element's attributes.
    public func write(into e: inout XElement) {
        e["admin_epoch"] = String(adminEpoch)
        e["epoch"] = String(epoch)
        e["num_updates"] = String(numUpdates)
    }
}

/// The Cluster Information Base: the whole `<cib>` document.
///
/// A value type over the XML tree. Every element and attribute of the input is kept, modelled
/// or not, so writing it back is lossless; typed views (`configuration`, `status`) read and
/// write through to the tree.
public struct CIB: Hashable, Sendable {
    /// The `<cib>` element and everything under it.
    public var root: XElement

    /// Wraps a `<cib>` element. Throws when the root is something else.
    public init(_ root: XElement) throws(CIBError) {
        guard root.name == "cib" else {
            throw CIBError(.invalid, "the root element is <\(root.name)>, not <cib>: this is not a CIB")
        }
        self.root = root
    }

    /// Parses a CIB from XML bytes; `source` names the input in error messages.
    public static func parse(_ data: some ContiguousBytes, source: String = "input") throws(CIBError) -> CIB {
        let root: XElement
        do { root = try XElement.parse(data, source: source) } catch { throw CIBError.from(error) }
        do { return try CIB(root) } catch {
            throw CIBError(.invalid, "\(source): \(error.message)")
        }
    }

    /// Parses a CIB file, reading it a piece at a time: a large CIB is never held whole in
    /// memory beside its tree.
    public static func parse(file path: String) throws(CIBError) -> CIB {
        let root: XElement
        do { root = try XElement.parse(file: path) } catch { throw CIBError.from(error) }
        do { return try CIB(root) } catch {
            throw CIBError(.invalid, "\(path): \(error.message)")
        }
    }

    /// Parses a CIB from an XML string.
    public static func parse(_ text: String, source: String = "input") throws(CIBError) -> CIB {
        try parse(Array(text.utf8), source: source)
    }

    /// An empty CIB with every configuration section present, as `cibadmin --empty` makes.
    public static func empty(validateWith: String = CIBSchema.newestInstalled ?? "pacemaker-3.9") -> CIB {
        var root = XElement("cib", ["crm_feature_set": "3.16.1", "validate-with": validateWith,
                                    "epoch": "0", "num_updates": "0", "admin_epoch": "0"])
        var config = XElement("configuration")
        for s in ["crm_config", "nodes", "resources", "constraints"] { config.append(XElement(s)) }
        root.append(config)
        root.append(XElement("status"))
        return try! CIB(root)
    }

    /// The version counters.
    public var version: CIBVersion {
        get { CIBVersion(attributesOf: root) }
        set { newValue.write(into: &root) }
    }

    /// The schema this CIB declares (`validate-with`), e.g. "pacemaker-3.9".
    public var validateWith: String? {
        get { root["validate-with"] }
        set { root["validate-with"] = newValue }
    }

    /// The typed view of `<configuration>`.
    public var configuration: Configuration {
        get { Configuration(root.firstElement(named: "configuration") ?? XElement("configuration")) }
        set { root.setFirstElement(named: "configuration", to: newValue.element) }
    }

    /// The typed view of `<status>`.
    public var status: Status {
        get { Status(root.firstElement(named: "status") ?? XElement("status")) }
        set { root.setFirstElement(named: "status", to: newValue.element) }
    }

    /// The XML text, pretty-printed as Pacemaker writes cib.xml.
    public func xmlString(_ format: XMLFormat = .pretty) -> String { root.xmlString(format) }
}

/// The sections `cibadmin -o/--scope` can name, and where each lives.
public enum CIBSection: String, CaseIterable, Sendable {
    case configuration, nodes, resources, constraints, status
    case crmConfig = "crm_config"
    case rscDefaults = "rsc_defaults"
    case opDefaults = "op_defaults"
    case acls, tags, alerts
    case fencingTopology = "fencing-topology"

    /// The path of element names from `<cib>` down to the section.
    public var path: [String] {
        switch self {
        case .configuration: ["configuration"]
        case .status: ["status"]
        default: ["configuration", rawValue]
        }
    }

    /// The scope names cibadmin accepts, for error messages.
    public static var names: String { allCases.map(\.rawValue).joined(separator: ", ") }
}

extension CIB {
    /// Child-index path to a section, creating the section (and `<configuration>`) if absent.
    public mutating func ensureSection(_ section: CIBSection) -> [Int] {
        var path: [Int] = []
        var names = section.path[...]
        while let name = names.popFirst() {
            let parent = root.element(at: path)!
            if let i = parent.children.firstIndex(where: { $0.element?.name == name }) {
                path.append(i)
            } else {
                var count = 0
                root.modifyElement(at: path) { p in
                    p.append(XElement(name))
                    count = p.children.count
                }
                path.append(count - 1)
            }
        }
        return path
    }

    /// Child-index path to a section, or nil when it is absent.
    public func sectionPath(_ section: CIBSection) -> [Int]? {
        var path: [Int] = []
        for name in section.path {
            guard let parent = root.element(at: path),
                  let i = parent.children.firstIndex(where: { $0.element?.name == name }) else { return nil }
            path.append(i)
        }
        return path
    }
}
