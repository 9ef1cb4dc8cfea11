import Agents
import CIB
import Foundation
import Testing

/// Meta-data, the class/provider/agent listing, LSB scripts, fence agents and systemd.
@Suite struct StandardsTests {
    // MARK: meta-data

    @Test func realDummyMetadataIsTyped() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "realDummyMetadataIsTyped") else { return }
        let s = try Scratch()
        let meta = try await AgentExecutor(host: s.systemHost).metadata(for: ResourceAgentName(standard: "ocf", provider: "heartbeat", type: "Dummy"))
        #expect(meta.name == "Dummy")
        #expect(meta.ocfVersion == "1.0" || meta.ocfVersion == "1.1")
        #expect(meta.shortDescription == "Example stateless resource agent")
        let state = try #require(meta.parameter("state"))
        #expect(state.unique)
        #expect(!state.required)
        #expect(state.type == .string)
        // The agent expands ${HA_RSCTMP} itself: the default lies under this node's root.
        #expect(state.defaultValue?.hasPrefix(s.root + "/run/resource-agents/") == true, "\(state.defaultValue ?? "")")
        #expect(meta.timeout(for: "start") == .seconds(20))
        #expect(meta.supports("migrate_to"))
        let monitor = try #require(meta.actions.first { $0.name == "monitor" })
        #expect(monitor.interval == .seconds(10))
        #expect(meta.actions.contains { $0.name == "meta-data" })
    }

    @Test func metadataOfEveryInstalledOCFAgentParses() async throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "metadataOfEveryInstalledOCFAgentParses") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost)
        var failures: [String] = []
        let names = executor.catalog.agents(standard: .ocf, provider: "pacemaker") + ["Dummy", "IPaddr2", "anything", "Filesystem", "apache"]
        let provider: (String) -> String = { ["Dummy", "IPaddr2", "anything", "Filesystem", "apache"].contains($0) ? "heartbeat" : "pacemaker" }
        for name in names {
            let agent = ResourceAgentName(standard: "ocf", provider: provider(name), type: name)
            guard (try? executor.catalog.executable(for: agent)) != nil else { continue }
            do {
                let meta = try await executor.metadata(for: agent)
                if meta.actions.isEmpty { failures.append("\(agent): no actions") }
            } catch {
                failures.append("\(error)")
            }
        }
        #expect(failures.isEmpty, "\(failures.joined(separator: "\n"))")
    }

    @Test func metadataFieldsAndTypes() throws {
        let xml = """
            <?xml version="1.0"?>
            <resource-agent name="web" version="2.3">
              <version>1.1</version>
              <longdesc lang="de">Deutsch</longdesc>
              <longdesc lang="en">  Serves the web.  </longdesc>
              <shortdesc lang="en">Web server</shortdesc>
              <parameters>
                <parameter name="port" required="1" unique-group="listen" reloadable="1">
                  <shortdesc lang="en">Port</shortdesc>
                  <content type="integer" default="80"/>
                </parameter>
                <parameter name="mode" deprecated="true">
                  <content type="select" default="fast"><option value="fast"/><option value="safe"/></content>
                </parameter>
                <parameter name="wait"><content type="time"/></parameter>
              </parameters>
              <actions>
                <action name="start" timeout="60s"/>
                <action name="monitor" timeout="20s" interval="10s" depth="0"/>
                <action name="monitor" timeout="45s" interval="60s" depth="10" role="Promoted"/>
                <action name="stop" timeout="PT2M"/>
              </actions>
            </resource-agent>
            """
        let meta = try AgentMetadata.parse(xml, agent: "ocf:test:web")
        #expect(meta.agentVersion == "2.3")
        #expect(meta.ocfVersion == "1.1")
        #expect(meta.longDescription == "Serves the web.")
        let port = try #require(meta.parameter("port"))
        #expect(port.required && port.reloadable && !port.unique)
        #expect(port.uniqueGroup == "listen")
        #expect(port.type == .integer)
        #expect(port.defaultValue == "80")
        #expect(meta.parameter("mode")?.type == .select(["fast", "safe"]))
        #expect(meta.parameter("mode")?.deprecated == true)
        #expect(meta.parameter("wait")?.type == .time)
        #expect(meta.timeout(for: "monitor", interval: .seconds(60)) == .seconds(45))
        #expect(meta.timeout(for: "monitor") == .seconds(20))
        #expect(meta.timeout(for: "stop") == .seconds(120))
        #expect(meta.actions.last { $0.name == "monitor" }?.depth == 10)
        #expect(meta.actions.last { $0.name == "monitor" }?.role == "Promoted")
        #expect(meta.timeout(for: "promote") == nil)
    }

    @Test func parametersAreCheckedAgainstMetadata() throws {
        let meta = AgentMetadata(name: "web", parameters: [
            .init(name: "port", type: .port, required: true),
            .init(name: "conf", type: .string, defaultValue: "/etc/web.conf", required: true),
            .init(name: "workers", type: .integer),
            .init(name: "debug", type: .boolean),
            .init(name: "mode", type: .select(["fast", "safe"])),
            .init(name: "wait", type: .time),
            .init(name: "old", deprecated: true),
        ])
        #expect(meta.problems(in: ["port": "80", "workers": "4", "debug": "yes", "mode": "safe", "wait": "5s", "OCF_CHECK_LEVEL": "10"], agent: "ocf:x:web").isEmpty)
        let problems = meta.problems(in: ["port": "99999", "workers": "many", "debug": "maybe", "mode": "slow", "wait": "soon", "prot": "1", "old": "1"], agent: "ocf:x:web")
        let text = problems.map(\.description)
        #expect(text.contains("error: parameter 'port': value \"99999\" is not a port number (0 to 65535)"))
        #expect(text.contains("error: parameter 'workers': value \"many\" is not an integer"))
        #expect(text.contains("error: parameter 'debug': value \"maybe\" is not a boolean (use true or false)"))
        #expect(text.contains("error: parameter 'mode': value \"slow\" is not one of fast, safe"))
        #expect(text.contains { $0.hasPrefix("error: parameter 'wait'") })
        #expect(text.contains { $0.hasPrefix("warning: parameter 'prot': ocf:x:web does not declare it") })
        #expect(text.contains("warning: parameter 'old': ocf:x:web marks it deprecated"))
        let missing = meta.problems(in: [:], agent: "ocf:x:web")
        #expect(missing.map(\.parameter) == ["port"], "conf has a default, so only port is missing")
        #expect(missing.first?.severity == .error)
        #expect(missing.first?.isMissing == true)
    }

    /// Which required parameters count as missing, as crmsh judges them: an empty default is
    /// no default (IPaddr2's ip, `<content type="string" default="" />`, was let through
    /// before the fix), a deprecated parameter or one that replaces another (fence_xvm's
    /// port and plug) is not required, and a fence agent's port/plug/action come from the
    /// fencer (the tutorial's fence_xvm got two false warnings before the fix).
    @Test func requiredParametersAsCrmshJudgesThem() {
        let meta = AgentMetadata(name: "x", parameters: [
            .init(name: "ip", type: .string, defaultValue: "", required: true),
            .init(name: "plug", required: true, obsoletes: "port"),
            .init(name: "port", required: true, deprecated: true),
            .init(name: "action", defaultValue: "reboot", required: true),
            .init(name: "ipaddr", required: true),
        ])
        #expect(meta.problems(in: [:], agent: "ocf:heartbeat:x").map(\.parameter) == ["ip", "ipaddr"])
        #expect(meta.problems(in: ["ip": "10.0.0.1", "ipaddr": "h"], agent: "ocf:heartbeat:x").isEmpty)
        let fence = AgentMetadata(name: "fence_x", parameters: [
            .init(name: "port", required: true), .init(name: "action", required: true), .init(name: "ipaddr", required: true),
        ])
        #expect(fence.problems(in: [:], agent: "stonith:fence_x", suppliedByCluster: ["action", "port", "plug"]).map(\.parameter) == ["ipaddr"])
    }

    @Test(arguments: [
        ("not xml at all", "not well-formed XML"),
        ("<resource-agent name='x'><parameters><parameter><content/></parameter></parameters></resource-agent>", "has no name attribute"),
        ("<agent name='x'/>", "document element is <agent>"),
        ("<resource-agent/>", "no name attribute"),
        ("<resource-agent name='x'><actions><action name='start' timeout='soon'/></actions></resource-agent>", "timeout=\"soon\", which is not a duration"),
        ("<resource-agent name='x'><parameters><parameter name='a' unique='maybe'/></parameters></resource-agent>", "unique=\"maybe\""),
        ("<resource-agent name='x'><parameters><parameter name='a'/><parameter name='a'/></parameters></resource-agent>", "declared twice"),
    ])
    func badMetadataIsExplained(_ xml: String, _ expected: String) {
        do {
            _ = try AgentMetadata.parse(xml, agent: "ocf:test:Bad")
            Issue.record("accepted bad meta-data: \(xml)")
        } catch {
            #expect(error.description.contains(expected), "\(error)")
            #expect(error.description.contains("ocf:test:Bad"))
        }
    }

    /// A scripted agent whose meta-data action prints garbage, and one whose meta-data fails.
    @Test func badMetadataFromAnAgent() async throws {
        let s = try Scratch()
        let garbage = try s.ocfAgent("Garbage", "#!/bin/sh\necho '<resource-agent name=\"g\"><parameters>'\nexit 0\n")
        let failing = try s.ocfAgent("Failing", "#!/bin/sh\nexit 3\n")
        let executor = AgentExecutor(host: s.host)
        await #expect(throws: AgentError.self) { try await executor.metadata(for: garbage) }
        do {
            _ = try await executor.metadata(for: failing)
            Issue.record("failing meta-data accepted")
        } catch {
            #expect(error.description.contains("meta-data action failed"))
        }
        do {
            _ = try await executor.metadata(for: ResourceAgentName(standard: "ocf", provider: "test", type: "Nope"))
            Issue.record("missing agent has meta-data")
        } catch {
            guard case .notInstalled = error else { Issue.record("expected notInstalled, got \(error)"); return }
        }
    }

    /// Meta-data is read from the agent once and then served from the cache.
    @Test func metadataIsCached() async throws {
        let s = try Scratch()
        let counter = s.file("calls")
        let agent = try s.ocfAgent("Counted", """
            #!/bin/sh
            echo x >> "\(counter)"
            cat <<'XML'
            <resource-agent name="Counted"><actions><action name="start" timeout="7s"/></actions></resource-agent>
            XML
            """)
        let cache = MetadataCache(executor: AgentExecutor(host: s.host))
        #expect(try await cache.metadata(for: agent).timeout(for: "start") == .seconds(7))
        #expect(try await cache.metadata(for: agent).name == "Counted")
        #expect(s.read("calls").split(separator: "\n").count == 1)
        #expect(await cache.cachedAgents == [agent])
        await cache.invalidate(agent)
        _ = try await cache.metadata(for: agent)
        #expect(s.read("calls").split(separator: "\n").count == 2)
        // Failures are not cached.
        let missing = ResourceAgentName(standard: "ocf", provider: "test", type: "Later")
        await #expect(throws: AgentError.self) { try await cache.metadata(for: missing) }
        try s.script(s.ocfRoot + "/resource.d/test", "Later", "#!/bin/sh\necho '<resource-agent name=\"Later\"/>'\n")
        #expect(try await cache.metadata(for: missing).name == "Later")
    }

    // MARK: listing

    @Test func classesProvidersAndAgents() throws {
        let s = try Scratch()
        try s.ocfAgent("Alpha", "#!/bin/sh\nexit 0\n")
        try s.script(s.ocfRoot + "/resource.d/test", ".hidden", "#!/bin/sh\n")
        try "not executable".write(toFile: s.ocfRoot + "/resource.d/test/Readme", atomically: true, encoding: .utf8)
        try FileManager.default.createDirectory(atPath: s.ocfRoot + "/resource.d/other", withIntermediateDirectories: true)
        try s.script(s.ocfRoot + "/resource.d/other", "Beta", "#!/bin/sh\n")
        try s.script(s.lsbDirectory, "myservice", "#!/bin/sh\n")
        try s.script(s.fenceDirectory, "fence_test", "#!/bin/sh\n")
        try s.script(s.fenceDirectory, "notfence", "#!/bin/sh\n")
        let catalog = AgentCatalog(host: s.host)
        #expect(catalog.standards().prefix(4) == [.lsb, .ocf, .service, .stonith])
        #expect(catalog.providers() == ["other", "test"])
        #expect(catalog.agents(standard: .ocf, provider: "test") == ["Alpha"])
        #expect(catalog.agents(standard: .ocf) == ["Alpha", "Beta"])
        #expect(catalog.agents(standard: .lsb) == ["myservice"])
        #expect(catalog.agents(standard: .service) == ["myservice"])
        #expect(catalog.agents(standard: .stonith) == ["fence_test"])
        #expect(catalog.classesListing().hasPrefix("lsb\nocf / other test\nservice\nstonith\n"))
    }

    @Test func installedAgentsAreListed() throws {
        guard Installed.agent("/usr/lib/ocf/resource.d/heartbeat/Dummy", for: "installedAgentsAreListed") else { return }
        let catalog = AgentCatalog(host: AgentHost())
        #expect(catalog.providers().contains("heartbeat"))
        #expect(catalog.agents(standard: .ocf, provider: "heartbeat").contains("Dummy"))
        #expect(catalog.agents(standard: .ocf, provider: "heartbeat").contains("IPaddr2"))
        if FileManager.default.isExecutableFile(atPath: "/usr/sbin/fence_dummy") {
            #expect(catalog.agents(standard: .stonith).contains("fence_dummy"))
        }
    }

    // MARK: LSB

    @Test func lsbStatusCodesMapToOCF() {
        #expect(LSBMapping.ocfCode(exitStatus: 0, action: .status) == .success)
        #expect(LSBMapping.ocfCode(exitStatus: 1, action: .monitor) == .notRunning)
        #expect(LSBMapping.ocfCode(exitStatus: 2, action: .status) == .notRunning)
        #expect(LSBMapping.ocfCode(exitStatus: 3, action: .status) == .notRunning)
        #expect(LSBMapping.ocfCode(exitStatus: 4, action: .status) == .errGeneric)
        #expect(LSBMapping.ocfCode(exitStatus: 150, action: .status) == .errInstalled)
        #expect(LSBMapping.ocfCode(exitStatus: 151, action: .status) == .errPerm)
        #expect(LSBMapping.ocfCode(exitStatus: 3, action: .start) == .errUnimplemented)
        #expect(LSBMapping.ocfCode(exitStatus: 5, action: .start) == .errInstalled)
        #expect(LSBMapping.ocfCode(exitStatus: 7, action: .stop) == .notRunning)
        #expect(LSBMapping.ocfCode(exitStatus: 8, action: .start) == .errGeneric)
        #expect(LSBMapping.ocfCode(exitStatus: 150, action: .start) == .errGeneric)
    }

    /// An LSB script of the test's own, through start, status (as monitor) and stop.
    @Test func lsbScriptLifecycle() async throws {
        let s = try Scratch()
        try s.script(s.lsbDirectory, "toy", """
            #!/bin/sh
            STATE="$HA_RSCTMP/toy.running"
            case "$1" in
            start) touch "$STATE"; exit 0 ;;
            stop) rm -f "$STATE"; exit 0 ;;
            status) [ -f "$STATE" ] && exit 0; exit 3 ;;
            force-reload) exit 0 ;;
            *) exit 3 ;;
            esac
            """)
        let executor = AgentExecutor(host: s.host)
        let toy = ResourceAgentName(standard: "lsb", provider: nil, type: "toy")
        func run(_ a: AgentAction, _ name: ResourceAgentName = toy) async -> AgentResult {
            await executor.run(AgentRequest(resource: "toy", agent: name, action: a, timeout: .seconds(5)))
        }
        #expect(await run(.monitor).exitCode == .notRunning)
        #expect(await run(.start).exitCode == .success)
        #expect(FileManager.default.fileExists(atPath: s.root + "/run/resource-agents/toy.running"))
        #expect(await run(.status).exitCode == .success)
        #expect(await run(.monitor, ResourceAgentName(standard: "service", provider: nil, type: "toy")).exitCode == .success)
        #expect(await run(.reload).exitCode == .success)
        #expect(await run(.stop).exitCode == .success)
        #expect(await run(.monitor).exitCode == .notRunning)
        #expect(await run(.promote).exitCode == .errUnimplemented)
        let meta = try await executor.metadata(for: toy)
        #expect(meta.name == "toy")
        #expect(meta.supports("status"))
    }

    /// A node root's own etc/init.d is read before the LSB directory, and only for a root other
    /// than `/`: two nodes on one machine can each have their own `lsb:web`.
    @Test func lsbScriptsOfTheNodeRootComeFirst() async throws {
        let s = try Scratch()
        let own = s.root + "/etc/init.d"
        try FileManager.default.createDirectory(atPath: own, withIntermediateDirectories: true)
        try s.script(s.lsbDirectory, "web", "#!/bin/sh\nexit 3\n")
        try s.script(s.lsbDirectory, "shared", "#!/bin/sh\nexit 0\n")
        try s.script(own, "web", "#!/bin/sh\nexit 0\n")
        #expect(s.host.lsbDirectories == [own, s.lsbDirectory])
        let catalog = AgentCatalog(host: s.host)
        #expect(catalog.agents(standard: .lsb) == ["shared", "web"])
        #expect(try catalog.executable(for: ResourceAgentName(standard: "lsb", provider: nil, type: "web")) == own + "/web")
        #expect(try catalog.executable(for: ResourceAgentName(standard: "lsb", provider: nil, type: "shared")) == s.lsbDirectory + "/shared")
        let executor = AgentExecutor(host: s.host)
        let r = await executor.run(AgentRequest(resource: "w", agent: ResourceAgentName(standard: "lsb", provider: nil, type: "web"), action: .monitor, timeout: .seconds(5)))
        #expect(r.exitCode == .success, "the root's web (exit 0) did not run: \(r)")
        let missing = await executor.run(AgentRequest(resource: "m", agent: ResourceAgentName(standard: "lsb", provider: nil, type: "nope"), action: .monitor))
        #expect(missing.exitCode == .errInstalled)
        #expect(missing.exitReason?.contains("\(own)/nope, \(s.lsbDirectory)/nope") == true, "\(missing.exitReason ?? "")")
        #expect(AgentHost(root: "/").lsbDirectories == ["/etc/init.d"])
    }

    // MARK: fence agents

    @Test func fenceStdinProtocol() {
        let text = FenceProtocol.standardInput(action: .reboot, parameters: ["plug": "node2", "ip": "10.0.0.9", "pcmk_host_list": "a b", "evil": "x\naction=off"])
        #expect(text == "action=reboot\nevil=x\nip=10.0.0.9\nplug=node2\n")
        #expect(FenceProtocol.standardInput(action: .metaData, parameters: [:]) == "action=metadata\n")
        #expect(FenceProtocol.parseList("node1,alias1\nnode2\n\n node3 , \n") == [
            .init(port: "node1", alias: "alias1"), .init(port: "node2", alias: nil), .init(port: "node3", alias: nil),
        ])
        #expect(FenceProtocol.ocfCode(exitStatus: 2, action: .status) == .notRunning)
        #expect(FenceProtocol.ocfCode(exitStatus: 2, action: .off) == .errGeneric)
    }

    /// A fence agent of the test's own sees exactly the key=value lines, and its list output is
    /// parsed into targets.
    @Test func scriptedFenceAgentReadsStdin() async throws {
        let s = try Scratch()
        let seen = s.file("stdin")
        try s.script(s.fenceDirectory, "fence_toy", """
            #!/bin/sh
            cat > "\(seen)"
            action=$(sed -n 's/^action=//p' "\(seen)")
            case "$action" in
            list) printf 'node1,n1.example\\nnode2\\n'; exit 0 ;;
            status) exit 2 ;;
            off|on|reboot|monitor) exit 0 ;;
            *) exit 1 ;;
            esac
            """)
        let executor = AgentExecutor(host: s.host)
        let agent = ResourceAgentName(standard: "stonith", provider: nil, type: "fence_toy")
        let list = await executor.run(AgentRequest(resource: "f", agent: agent, action: .list, parameters: ["ip": "10.0.0.5", "username": "admin", "pcmk_host_map": "n1:1"]))
        #expect(list.exitCode == .success)
        #expect(s.read("stdin") == "action=list\nip=10.0.0.5\nusername=admin\n")
        #expect(FenceProtocol.parseList(list.standardOutput) == [.init(port: "node1", alias: "n1.example"), .init(port: "node2")])
        #expect(await executor.run(AgentRequest(resource: "f", agent: agent, action: .status, parameters: ["plug": "node2"])).exitCode == .notRunning)
        #expect(s.read("stdin") == "action=status\nplug=node2\n")
        #expect(await executor.run(AgentRequest(resource: "f", agent: agent, action: .off, parameters: ["plug": "node2"])).exitCode == .success)
        let meta = await executor.run(AgentRequest(resource: "f", agent: agent, action: .metaData))
        #expect(meta.exitCode == .errGeneric)  // this toy prints no meta-data
        #expect(s.read("stdin") == "action=metadata\n")
    }

    /// fence_dummy from fence-agents, driven through key=value lines on stdin.
    @Test func fenceDummyThroughStdin() async throws {
        guard Installed.agent("/usr/sbin/fence_dummy", for: "fenceDummyThroughStdin") else { return }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.systemHost)
        let agent = ResourceAgentName(standard: "stonith", provider: nil, type: "fence_dummy")
        let params = ["status_file": s.file("power"), "nodename": "node1"]
        func run(_ a: AgentAction) async -> AgentResult {
            await executor.run(AgentRequest(resource: "fd", agent: agent, action: a, parameters: params, timeout: .seconds(20)))
        }
        #expect(await run(.monitor).exitCode == .success)
        #expect(await run(.off).exitCode == .success)
        #expect(await run(.status).exitCode == .notRunning)
        #expect(await run(.on).exitCode == .success)
        #expect(await run(.status).exitCode == .success)
        #expect(s.read("power").hasPrefix("on"))
        #expect(await run(.reboot).exitCode == .success)
        #expect(await run(.list).exitCode == .errGeneric)  // fence_dummy (type=file) has no list
        #expect(await run(.start).exitCode == .errUnimplemented)
        let meta = try await executor.metadata(for: agent)
        #expect(meta.name == "fence_dummy")
        #expect(meta.shortDescription == "Dummy fence agent")
        #expect(meta.parameter("status_file")?.defaultValue == "/tmp/fence_dummy.status")
        #expect(meta.parameter("debug_file")?.obsoletes == "debug")
        #expect(meta.supports("reboot"))
    }

    // MARK: systemd

    /// Without systemd as init, systemd: agents fail at once with a clear message.
    @Test func systemdNotAvailableIsClearAndImmediate() async throws {
        guard !Systemd.isAvailable() else {
            print("SKIPPED: systemdNotAvailableIsClearAndImmediate: systemd runs on this machine")
            return
        }
        let s = try Scratch()
        let executor = AgentExecutor(host: s.host)
        let result = await executor.run(AgentRequest(resource: "n", agent: ResourceAgentName(standard: "systemd", provider: nil, type: "nginx"), action: .start, timeout: .seconds(1)))
        #expect(result.exitCode == .errInstalled)
        #expect(result.status == .notInstalled)
        #expect(result.exitReason?.contains("systemd is not available on this node") == true)
        do {
            _ = try await Systemd.activeState(unit: "ssh")
            Issue.record("systemd answered without systemd")
        } catch {
            #expect(error.description.contains("systemd is not available on this node"))
        }
        #expect(!AgentCatalog(host: s.host).standards().contains(.systemd))
        #expect(AgentCatalog(host: s.host).agents(standard: .systemd).isEmpty)
        #expect(Systemd.unitName("nginx") == "nginx.service")
        #expect(Systemd.unitName("web.socket") == "web.socket")
        // service: falls back to LSB where systemd is absent.
        let svc = await executor.run(AgentRequest(resource: "n", agent: ResourceAgentName(standard: "service", provider: nil, type: "nginx"), action: .monitor))
        #expect(svc.exitCode == .errInstalled)
        #expect(svc.exitReason?.contains(s.lsbDirectory + "/nginx") == true)
    }
}
