extension CIBReplica.Operation {
    /// The operation as XML (`<operation kind="create" section="resources">...`): the form it
    /// takes in the replicas' messages and in cibd's client API.
    public var xml: XElement { CIBReplica.Message.operationXML(self) }

    /// Reads an operation written by `xml`; anything malformed is refused with what is wrong.
    public init(xml: XElement) throws(CIBError) {
        self = try CIBReplica.Message.operation(xml)
    }
}

extension CIBError.Kind {
    /// A stable name for the kind, for wire forms (`notFound` -> "notFound").
    public var name: String {
        switch self {
        case .malformed: "malformed"
        case .invalid: "invalid"
        case .notFound: "notFound"
        case .exists: "exists"
        case .versionMismatch: "versionMismatch"
        case .digestMismatch: "digestMismatch"
        case .io: "io"
        case .badRequest: "badRequest"
        case .multiple: "multiple"
        case .noQuorum: "noQuorum"
        }
    }

    /// The kind with this `name`, or nil.
    public init?(name: String) {
        let all: [CIBError.Kind] = [.malformed, .invalid, .notFound, .exists, .versionMismatch, .digestMismatch, .io, .badRequest, .multiple, .noQuorum]
        guard let k = all.first(where: { $0.name == name }) else { return nil }
        self = k
    }
}
