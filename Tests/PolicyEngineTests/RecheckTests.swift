import CIB
import PolicyEngine
import Testing

/// When a failure stops counting (failure-timeout), the controller plans again at that
/// moment: Recheck.next finds the earliest such moment after now.
@Suite struct RecheckTests {
    static func input(now: Int, timeout: String? = "60s", failures: String) throws -> SchedulerInput {
        let meta = timeout.map { #"<meta_attributes id="d1-meta"><nvpair id="d1-ft" name="failure-timeout" value="\#($0)"/></meta_attributes>"# } ?? ""
        let xml = ExplanationTests.cib(#"<primitive id="d1" class="ocf" provider="heartbeat" type="Dummy">\#(meta)</primitive>"#,
                                       node1: ExplanationTests.d1Running, attributes: failures)
        return SchedulerInput(cib: try CIB.parse(xml), now: now)
    }

    static let twoFailures = """
        <nvpair id="f1" name="fail-count-d1#monitor_10000" value="2"/><nvpair id="l1" name="last-failure-d1#monitor_10000" value="1000"/>
        <nvpair id="f2" name="fail-count-d1#start_0" value="1"/><nvpair id="l2" name="last-failure-d1#start_0" value="1020"/>
        """

    @Test func theEarliestFailureToExpireAfterNow() throws {
        let (ws, _) = Simulator.schedule(try Self.input(now: 1030, failures: Self.twoFailures))
        #expect(Recheck.next(ws) == 1060)
        // Once the first has expired, the second.
        let (later, _) = Simulator.schedule(try Self.input(now: 1065, failures: Self.twoFailures))
        #expect(Recheck.next(later) == 1080)
        // Both expired: nothing to wait for.
        let (done, _) = Simulator.schedule(try Self.input(now: 1080, failures: Self.twoFailures))
        #expect(Recheck.next(done) == nil)
    }

    @Test func withoutFailureTimeoutNothingExpires() throws {
        let (ws, _) = Simulator.schedule(try Self.input(now: 1030, timeout: nil, failures: Self.twoFailures))
        #expect(Recheck.next(ws) == nil)
        let (zero, _) = Simulator.schedule(try Self.input(now: 1030, timeout: "0", failures: Self.twoFailures))
        #expect(Recheck.next(zero) == nil)
        let (none, _) = Simulator.schedule(try Self.input(now: 1030, failures: ""))
        #expect(Recheck.next(none) == nil)
    }

    /// A location rule in force from 1 000 000 to 2 000 000 (epoch seconds): the scheduler's
    /// answer changes when the range begins and a second after it ends.
    @Test func aDateRangeBeginsAndEnds() throws {
        func ws(now: Int) throws -> WorkingSet {
            let xml = ExplanationTests.cib(ExplanationTests.primitive("d1"), constraints: """
                <rsc_location id="l" rsc="d1"><rule id="l-r" score="100">
                  <date_expression id="l-d" operation="in_range" start="1970-01-12T13:46:40Z" end="1970-01-24T03:33:20Z"/>
                </rule></rsc_location>
                <rsc_location id="m" rsc="d1"><rule id="m-r" score="50">
                  <date_expression id="m-d" operation="gt" start="1970-01-01T00:16:40Z"/>
                </rule></rsc_location>
                """)
            return Simulator.schedule(SchedulerInput(cib: try CIB.parse(xml), now: now)).0
        }
        #expect(Recheck.next(try ws(now: 500)) == 1001)
        #expect(Recheck.next(try ws(now: 5000)) == 1_000_000)
        #expect(Recheck.next(try ws(now: 1_500_000)) == 2_000_001)
        #expect(Recheck.next(try ws(now: 2_000_001)) == nil)
    }
}
