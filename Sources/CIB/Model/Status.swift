/// `<status>`: what each node reports about itself and its resources.
public struct Status: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    /// One `<node_state>` per node the cluster has seen.
    public var nodeStates: [NodeState] {
        get { children("node_state") }
        set { setChildren("node_state", newValue) }
    }

    /// Ticket states (`<tickets><ticket_state>`).
    public var tickets: [XElement] {
        element.firstElement(named: "tickets")?.elements(named: "ticket_state") ?? []
    }
}

/// A node's state: membership, controller state, attributes and operation history.
public struct NodeState: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }

    public var uname: String { element["uname"] ?? id }
    /// Whether the node is in the cluster membership ("true" or a timestamp in new CIBs).
    public var inCCM: String? { element["in_ccm"] }
    /// "online"/"offline" in old CIBs, a timestamp or "0" in new ones.
    public var crmd: String? { element["crmd"] }
    public var join: String? { element["join"] }
    public var expected: String? { element["expected"] }

    /// Transient node attributes (`<transient_attributes><instance_attributes>`).
    public var transientAttributes: [NVSet] {
        element.firstElement(named: "transient_attributes")?.elements(named: "instance_attributes").map(NVSet.init) ?? []
    }

    /// The operation history, one entry per resource.
    public var lrmResources: [LRMResource] {
        element.firstElement(named: "lrm")?.firstElement(named: "lrm_resources")?
            .elements(named: "lrm_resource").map(LRMResource.init) ?? []
    }
}

/// A resource's operation history on one node.
public struct LRMResource: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    public var agent: ResourceAgentName {
        ResourceAgentName(standard: element["class"] ?? "", provider: element["provider"], type: element["type"] ?? "")
    }
    public var container: String? { element["container"] }
    public var operations: [LRMOperation] { children("lrm_rsc_op") }
}

/// One recorded operation result (`<lrm_rsc_op>`).
public struct LRMOperation: ElementView {
    public var element: XElement
    public init(_ element: XElement) { self.element = element }
    /// "rsc_monitor_10000" style key.
    public var operationKey: String? { element["operation_key"] }
    public var operation: String { element["operation"] ?? "" }
    public var callID: Int? { element["call-id"].flatMap { Int($0) } }
    public var rcCode: Int? { element["rc-code"].flatMap { Int($0) } }
    public var opStatus: Int? { element["op-status"].flatMap { Int($0) } }
    public var interval: Int? { element["interval"].flatMap { Int($0) } }
    public var transitionKey: String? { element["transition-key"] }
    public var transitionMagic: String? { element["transition-magic"] }
    public var lastRCChange: Int? { element["last-rc-change"].flatMap { Int($0) } }
    public var execTime: Int? { element["exec-time"].flatMap { Int($0) } }
    public var queueTime: Int? { element["queue-time"].flatMap { Int($0) } }
    public var opDigest: String? { element["op-digest"] }
    public var opRestartDigest: String? { element["op-restart-digest"] }
    public var opSecureDigest: String? { element["op-secure-digest"] }
    public var onNode: String? { element["on_node"] }
}
