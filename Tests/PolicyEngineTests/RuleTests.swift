import CIB
import PolicyEngine
import Testing

@Suite struct RuleTests {
    func rule(_ xml: String) throws -> XElement { try XElement.parse(xml) }

    @Test func isoDates() {
        #expect(ISO8601Time.parse("1970-01-01T00:00:00Z") == 0)
        #expect(ISO8601Time.parse("2005-020") == ISO8601Time.parse("2005-01-20"))
        #expect(ISO8601Time.parse("2005-01-20T11:30") == ISO8601Time.parse("2005-01-20")! + 41_400)
        #expect(ISO8601Time.parse("2009-W01-1") == ISO8601Time.parse("2008-12-29"))
        #expect(ISO8601Time.parse("2024-02-29 12:00:00+01:00") == ISO8601Time.parse("2024-02-29T11:00:00Z"))
        #expect(ISO8601Time.parse("yesterday") == nil)
        #expect(ISO8601Time.parse("2005-13-40") == nil)
    }

    @Test func attributeExpressions() throws {
        var ctx = RuleContext(now: 0, nodeAttributes: ["#uname": "node1", "ram": "2048", "os": "Linux"])
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="#uname" operation="eq" value="node1"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="#uname" operation="ne" value="node1"/></rule>"##), ctx))
        // Numbers compare as numbers: 2048 > 512, though "2048" < "512" as text.
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="ram" operation="gt" value="512"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="ram" operation="gt" value="512" type="string"/></rule>"##), ctx))
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="os" operation="eq" value="linux"/></rule>"##), ctx))
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r" boolean-op="or"><expression id="a" attribute="x" operation="defined"/><expression id="b" attribute="y" operation="not_defined"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="a" attribute="x" operation="defined"/><expression id="b" attribute="y" operation="not_defined"/></rule>"##), ctx))
        // A missing attribute is unequal to any value (ne holds, eq does not), and no ordering
        // comparison with it holds, as in Pacemaker (a ban with `ne` must keep nodes without it).
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="site" operation="ne" value="a"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="site" operation="eq" value="a"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="site" operation="lt" value="a"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="site" operation="gte" value="a"/></rule>"##), ctx))
        ctx.nodeAttributes["ver"] = "1.10"
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><expression id="e" attribute="ver" operation="gt" value="1.9" type="version"/></rule>"##), ctx))
    }

    @Test func dateExpressions() throws {
        let jan20 = ISO8601Time.parse("2005-01-20T12:00:00Z")!
        let ctx = RuleContext(now: jan20)
        let inRange = try rule(##"<rule id="r"><date_expression id="d" operation="in_range" start="2005-01-01" end="2005-02-01"/></rule>"##)
        #expect(RuleEvaluator.passes(inRange, ctx))
        let duration = try rule(##"<rule id="r"><date_expression id="d" operation="in_range" start="2005-01-01"><duration id="du" days="10"/></date_expression></rule>"##)
        #expect(!RuleEvaluator.passes(duration, ctx))
        // 2005-01-20 was a Thursday (weekday 4), at 12:00.
        let spec = try rule(##"<rule id="r"><date_expression id="d" operation="date_spec"><date_spec id="s" weekdays="1-5" hours="9-16"/></date_expression></rule>"##)
        #expect(RuleEvaluator.passes(spec, ctx))
        let weekend = try rule(##"<rule id="r"><date_expression id="d" operation="date_spec"><date_spec id="s" weekdays="6-7"/></date_expression></rule>"##)
        #expect(!RuleEvaluator.passes(weekend, ctx))
        #expect(RuleEvaluator.passes(try rule(##"<rule id="r"><date_expression id="d" operation="gt" start="2004-12-31"/></rule>"##), ctx))
        #expect(!RuleEvaluator.passes(try rule(##"<rule id="r"><date_expression id="d" operation="lt" end="2004-12-31"/></rule>"##), ctx))
    }

    @Test func naturalOrder() {
        #expect(naturalLess("node2", "node10"))
        #expect(naturalLess("dhcp69", "dhcp180"))
        #expect(naturalLess("Node1", "node2"))
        #expect(!naturalLess("node10", "node9"))
    }
}
