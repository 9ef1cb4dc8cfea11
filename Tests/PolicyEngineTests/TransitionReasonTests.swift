import CIB
import PolicyEngine
import Testing

/// What the scheduler decides, and the reason it gives, in the cases Pacemaker's regression
/// suite showed it handling in its own way: orderings of unknown kind, colocations with what
/// cannot start, ignored stop failures, "#default" values and integer rule comparisons.
@Suite struct TransitionReasonTests {
    func schedule(_ resources: String, constraints: String = "", status: String = "") throws -> Transition {
        try TwoNodeCluster.schedule(resources, constraints: constraints, status: status)
    }

    /// The summary lines with runs of blanks squeezed (the columns depend on name lengths).
    func lines(_ t: Transition) -> [String] { t.changes.map { $0.text.split(separator: " ").joined(separator: " ") } }

    func dummy(_ id: String, meta: String = "", params: String = "", ops: String = "") -> String {
        let m = meta.isEmpty ? "" : #"<meta_attributes id="\#(id)-m">\#(meta)</meta_attributes>"#
        let p = params.isEmpty ? "" : #"<instance_attributes id="\#(id)-p">\#(params)</instance_attributes>"#
        let o = ops.isEmpty ? "" : "<operations>\(ops)</operations>"
        return #"<primitive id="\#(id)" class="ocf" provider="heartbeat" type="Dummy">\#(m)\#(p)\#(o)</primitive>"#
    }

    /// node1's history: each resource started there (call ids in order).
    func started(_ ids: [String], digest: String = "f2317cad3d54cec5d7d7aa7d0bf35cf8") -> String {
        let entries = ids.enumerated().map { k, id in
            """
            <lrm_resource id="\(id)" class="ocf" provider="heartbeat" type="Dummy">
              <lrm_rsc_op id="\(id)_last_0" operation="start" call-id="\(k + 1)" rc-code="0" op-status="0" interval="0" transition-key="1:1:0:x" op-digest="\(digest)"/>
            </lrm_resource>
            """
        }
        return #"<lrm id="1"><lrm_resources>"# + entries.joined() + "</lrm_resources></lrm>"
    }

    @Test func unknownOrderingKindIsMandatory() throws {
        let t = try schedule(dummy("rsc1") + dummy("rsc2"),
                             constraints: """
                                <rsc_location id="l" rsc="rsc1" node="node1" score="100"/>
                                <rsc_location id="l2" rsc="rsc2" node="node1" score="100"/>
                                <rsc_order id="o" first="rsc1" then="rsc2" kind="foo"/>
                                """,
                             status: started(["rsc2"]))
        #expect(lines(t) == ["* Start rsc1 ( node1 )", "* Restart rsc2 ( node1 ) due to required rsc1 start"])
    }

    /// rsc1 is disabled, so rsc2 (ordered after it) cannot start, and rsc3 (which must run
    /// with rsc2) cannot run either.
    @Test func colocationWithWhatCannotStart() throws {
        let resources = dummy("rsc1", meta: #"<nvpair id="r1" name="target-role" value="Stopped"/>"#) + dummy("rsc2") + dummy("rsc3")
        let t = try schedule(resources, constraints: """
            <rsc_order id="o" first="rsc1" then="rsc2"/>
            <rsc_colocation id="c" rsc="rsc3" with-rsc="rsc2" score="INFINITY"/>
            """, status: started(["rsc2", "rsc3"]))
        #expect(lines(t).contains("* Stop rsc2 ( node1 ) due to unrunnable rsc1 start"))
        #expect(lines(t).contains("* Stop rsc3 ( node1 ) due to colocation with rsc2"))
        #expect(lines(t).count == 2)
    }

    /// A stop that failed with on-fail=ignore leaves the resource stopped: it just starts.
    @Test func ignoredStopFailureLeavesItStopped() throws {
        let rsc = dummy("rsc1", ops: #"<op id="s" name="stop" interval="0" on-fail="ignore"/>"#)
        let status = """
            <lrm id="1"><lrm_resources><lrm_resource id="rsc1" class="ocf" provider="heartbeat" type="Dummy">
              <lrm_rsc_op id="rsc1_last_0" operation="stop" call-id="1" rc-code="1" op-status="0" interval="0" transition-key="1:1:0:x"/>
            </lrm_resource></lrm_resources></lrm>
            """
        let t = try schedule(rsc, constraints: #"<rsc_location id="l" rsc="rsc1" node="node2" score="100"/>"#, status: status)
        #expect(lines(t) == ["* Start rsc1 ( node2 )"])
    }

    /// A parameter set to "#default" is no parameter: the digest recorded without it matches.
    @Test func defaultValueIsUnset() throws {
        let rsc = dummy("rsc1", params: ##"<nvpair id="p1" name="target_role" value="#default"/>"##)
        #expect(try schedule(rsc, status: started(["rsc1"])).changes.isEmpty)
        let changed = dummy("rsc1", params: #"<nvpair id="p1" name="target_role" value="Started"/>"#)
        let restarted = try schedule(changed, status: started(["rsc1"]))
        #expect(lines(restarted) == ["* Restart rsc1 ( node1 ) due to resource definition change"], "\(lines(restarted))")
    }

    /// type="integer" reads the leading integer, as strtoll does: 3.4 and 3.6 are both 3.
    @Test func integerComparisonTruncates() throws {
        let ctx = RuleContext(now: 0, nodeAttributes: ["v": "3.4"])
        func passes(_ op: String, _ value: String, _ type: String) throws -> Bool {
            RuleEvaluator.passes(try XElement.parse(#"<rule id="r"><expression id="e" attribute="v" operation="\#(op)" value="\#(value)" type="\#(type)"/></rule>"#), ctx)
        }
        #expect(try passes("eq", "3.6", "integer"))
        #expect(try !passes("eq", "3.6", "number"))
        #expect(try passes("lt", "3.6", "number"))
        #expect(try passes("gt", "2", "integer"))
    }

    /// The summary's columns are as wide for the first line as for the last: a longer name
    /// further down widens them all (Pacemaker lays the summary out once to its log first).
    @Test func summaryColumnsAreAsWideOnEveryLine() throws {
        let t = try schedule(#"<primitive id="d1" class="ocf" provider="heartbeat" type="Dummy"/><primitive id="a-much-longer-name" class="ocf" provider="heartbeat" type="Dummy"/>"#,
                             constraints: #"<rsc_location id="l" rsc="a-much-longer-name" node="node2" score="10"/><rsc_location id="l2" rsc="d1" node="node1" score="10"/>"#)
        #expect(PlannedChange.lines(t.changes) == [
            "  * Start      d1                     ( node1 )",
            "  * Start      a-much-longer-name     ( node2 )",
        ])
    }
}
