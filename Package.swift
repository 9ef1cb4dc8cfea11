// swift-tools-version: 6.2
//
// SwiftHA: a high-availability cluster stack in the Heartbeat-3 split.
// The module borders of docs/DESIGN.md are enforced here: CIB and PolicyEngine import no
// networking and spawn no process; only Daemons and Tools may use everything.

import PackageDescription

let package = Package(
    name: "SwiftHA",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "CIB", targets: ["CIB"]),
        .library(name: "PolicyEngine", targets: ["PolicyEngine"]),
        .library(name: "Messaging", targets: ["Messaging"]),
        .library(name: "LRM", targets: ["LRM"]),
        .library(name: "Agents", targets: ["Agents"]),
        .library(name: "Stonith", targets: ["Stonith"]),
        .library(name: "Controller", targets: ["Controller"]),
        .library(name: "HASupport", targets: ["HASupport"]),
        .library(name: "ToolSupport", targets: ["ToolSupport"]),
        .library(name: "LocalIPC", targets: ["LocalIPC"]),
        .library(name: "CIBClient", targets: ["CIBClient"]),
        .library(name: "CrmShell", targets: ["CrmShell"]),
        .executable(name: "corosyncd", targets: ["corosyncd"]),
        .executable(name: "cibd", targets: ["cibd"]),
        .executable(name: "crmd", targets: ["crmd"]),
        .executable(name: "lrmd", targets: ["lrmd"]),
        .executable(name: "stonithd", targets: ["stonithd"]),
        .executable(name: "pacemakerd", targets: ["pacemakerd"]),
        .executable(name: "cibadmin", targets: ["cibadmin"]),
        .executable(name: "crm_verify", targets: ["crm_verify"]),
        .executable(name: "crm_simulate", targets: ["crm_simulate"]),
        .executable(name: "crm_mon", targets: ["crm_mon"]),
        .executable(name: "crm_node", targets: ["crm_node"]),
        .executable(name: "crm_attribute", targets: ["crm_attribute"]),
        .executable(name: "crm_standby", targets: ["crm_standby"]),
        .executable(name: "crm_failcount", targets: ["crm_failcount"]),
        .executable(name: "crm_resource", targets: ["crm_resource"]),
        .executable(name: "crm_ticket", targets: ["crm_ticket"]),
        .executable(name: "crm", targets: ["crm"]),
        .executable(name: "corosync-keygen", targets: ["corosync-keygen"]),
        .executable(name: "fence_swiftha", targets: ["fence_swiftha"]),
        .executable(name: "stonith_admin", targets: ["stonith_admin"]),
        .executable(name: "corosync-cfgtool", targets: ["corosync-cfgtool"]),
        .executable(name: "corosync-quorumtool", targets: ["corosync-quorumtool"]),
        .executable(name: "corosync-cmapctl", targets: ["corosync-cmapctl"]),
        .executable(name: "corosync-cpgtool", targets: ["corosync-cpgtool"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.8.2"),
        .package(url: "https://github.com/apple/swift-log", from: "1.16.2"),
        .package(url: "https://github.com/apple/swift-crypto", from: "4.5.2"),
        .package(url: "https://github.com/apple/swift-nio", from: "2.101.2"),
        .package(url: "https://github.com/swiftlang/swift-subprocess", from: "1.0.2"),
        .package(url: "https://github.com/apple/swift-system", from: "1.5.0"),
    ],
    targets: [
        // System libraries. libxml2's shim switches off its ICU support (docs/SWIFT-NOTES.md).
        .systemLibrary(name: "CLibXML2", pkgConfig: "libxml-2.0", providers: [.apt(["libxml2-dev"])]),
        .systemLibrary(name: "CSystemd", pkgConfig: "libsystemd", providers: [.apt(["libsystemd-dev"])]),

        // Libraries.
        .target(name: "DurableFile"),
        // What the libraries and daemons use beyond FoundationEssentials: they import that, not
        // Foundation, which would load ICU and two more libraries into every daemon (SWIFT-NOTES).
        .target(name: "EssentialsExtras"),
        // Local IPC between daemons and tools: framed messages over Unix sockets, peer
        // credentials checked. Every daemon's API and client library sits on it.
        .target(name: "LocalIPC", dependencies: [
            "EssentialsExtras",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "CIB", dependencies: [
            "CLibXML2", "DurableFile", "EssentialsExtras",
            .product(name: "Crypto", package: "swift-crypto"),
        ]),
        // cibd's client API and library (CIB itself imports no networking).
        .target(name: "CIBClient", dependencies: ["CIB", "LocalIPC"]),
        .target(name: "PolicyEngine", dependencies: ["CIB", "EssentialsExtras"]),
        .target(name: "Messaging", dependencies: [
            "DurableFile", "LocalIPC", "EssentialsExtras",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Crypto", package: "swift-crypto"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "Agents", dependencies: [
            "CIB", "CSystemd", "EssentialsExtras", "HostProcesses",
            .product(name: "Subprocess", package: "swift-subprocess"),
            .product(name: "SystemPackage", package: "swift-system"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .target(name: "LRM", dependencies: ["Agents", "CIB", "LocalIPC", .product(name: "Logging", package: "swift-log")]),
        // Fencing: devices, topology, the fencer instance, and stonithd's API and client library.
        .target(name: "Stonith", dependencies: ["Agents", "Messaging", "CIB", "LocalIPC", "HostProcesses", "EssentialsExtras"]),
        // The C library only: fence_swiftha, built on it alone, starts in a few milliseconds.
        .target(name: "HostProcesses"),
        .target(name: "Controller", dependencies: ["CIB", "PolicyEngine", "Messaging"]),
        .target(name: "ControllerClient", dependencies: ["Controller", "LocalIPC"]),
        .target(name: "HASupport", dependencies: [
            "CSystemd", "EssentialsExtras",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        .target(name: "ToolSupport", dependencies: [
            "CIB", "CIBClient", "LocalIPC", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ]),

        // The crm shell's syntax (crmsh): parser, configure show printer and the session's
        // levels, over CIB values; the crm executable does the I/O.
        .target(name: "CrmShell", dependencies: ["CIB", "Agents", "EssentialsExtras"]),

        // Daemons.
        .executableTarget(name: "corosyncd", dependencies: [
            "Messaging", "LocalIPC", "HASupport", "CSystemd", "EssentialsExtras",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Daemons/corosyncd"),
        .executableTarget(name: "cibd", dependencies: [
            "CIB", "CIBClient", "Messaging", "LocalIPC", "HASupport", "CSystemd", "EssentialsExtras",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Daemons/cibd"),
        .executableTarget(name: "crmd", dependencies: [
            "Controller", "ControllerClient", "PolicyEngine", "CIB", "CIBClient", "LRM", "Agents", "Messaging", "LocalIPC", "HASupport", "CSystemd", "Stonith",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Daemons/crmd"),
        .executableTarget(name: "lrmd", dependencies: [
            "LRM", "Agents", "LocalIPC", "HASupport", "CSystemd",
            .product(name: "Logging", package: "swift-log"),
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "NIOCore", package: "swift-nio"),
        ], path: "Sources/Daemons/lrmd"),
        .executableTarget(name: "stonithd", dependencies: [
            "Stonith", "Agents", "CIB", "CIBClient", "Messaging", "LocalIPC", "HASupport", "CSystemd", "EssentialsExtras",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Daemons/stonithd"),
        .executableTarget(name: "pacemakerd", dependencies: [
            "HASupport", "CSystemd", "EssentialsExtras",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
            .product(name: "Logging", package: "swift-log"),
        ], path: "Sources/Daemons/pacemakerd"),

        // Operator tools.
        .executableTarget(name: "cibadmin", dependencies: [
            "CIB", "CIBClient", "LocalIPC", "HASupport", "ToolSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/cibadmin"),
        .executableTarget(name: "crm_verify", dependencies: [
            "CIB", "ToolSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_verify"),

        .executableTarget(name: "crm_resource", dependencies: [
            "PolicyEngine",
            "CIB", "Agents", "LRM", "HASupport", "ToolSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_resource"),
        .executableTarget(name: "crm", dependencies: [
            "CrmShell", "CIB", "CIBClient", "Agents", "PolicyEngine", "HASupport", "ToolSupport", "Controller", "ControllerClient", "LocalIPC",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm"),
        .executableTarget(name: "crm_simulate", dependencies: [
            "CIB", "PolicyEngine", "ToolSupport", "DurableFile",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_simulate"),
        .executableTarget(name: "crm_attribute", dependencies: [
            "CIB", "ToolSupport", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_attribute"),
        .executableTarget(name: "crm_standby", dependencies: [
            "CIB", "ToolSupport", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_standby"),
        .executableTarget(name: "crm_ticket", dependencies: [
            "CIB", "ToolSupport", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_ticket"),
        .executableTarget(name: "crm_failcount", dependencies: [
            "CIB", "ToolSupport", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_failcount"),
        .executableTarget(name: "crm_node", dependencies: [
            "Messaging", "HASupport", "CIB", "ToolSupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_node"),
        .executableTarget(name: "crm_mon", dependencies: [
            "CIB", "PolicyEngine", "ToolSupport", "HASupport", "Stonith",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/crm_mon"),
        .executableTarget(name: "corosync-keygen", dependencies: [
            "Messaging", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/corosync-keygen"),
        .executableTarget(name: "fence_swiftha", dependencies: ["HostProcesses"], path: "Sources/Tools/fence_swiftha"),
        .executableTarget(name: "stonith_admin", dependencies: [
            "Stonith", "Agents", "CIB", "LocalIPC", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/stonith_admin"),
        .executableTarget(name: "corosync-cfgtool", dependencies: [
            "Messaging", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/corosync-cfgtool"),
        .executableTarget(name: "corosync-quorumtool", dependencies: [
            "Messaging", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/corosync-quorumtool"),
        .executableTarget(name: "corosync-cmapctl", dependencies: [
            "Messaging", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/corosync-cmapctl"),
        .executableTarget(name: "corosync-cpgtool", dependencies: [
            "Messaging", "HASupport",
            .product(name: "ArgumentParser", package: "swift-argument-parser"),
        ], path: "Sources/Tools/corosync-cpgtool"),

        // Examples of using the libraries from another Swift tool.
        .executableTarget(name: "cib-summary", dependencies: ["CIB"], path: "Examples/cib-summary"),
        .executableTarget(name: "placement", dependencies: ["CIB", "PolicyEngine"], path: "Examples/placement"),

        // Benchmarks (make bench), not tests.
        .executableTarget(name: "cib-bench", dependencies: ["CIB", "CLibXML2", "PolicyEngine"], path: "Benchmarks/cib-bench"),

        // Tests, and what they share.
        .target(name: "TestSupport", dependencies: ["CIB", "Messaging", "HostProcesses"], path: "Tests/TestSupport"),
        .testTarget(name: "CIBTests", dependencies: ["CIB", "TestSupport"], resources: [.copy("Fixtures")]),
        .testTarget(name: "ToolTests", dependencies: ["CIB", "Stonith", "ToolSupport", "TestSupport"], exclude: ["CrmMonGolden"]),
        .testTarget(name: "CrmShellTests", dependencies: ["CrmShell", "CIB", "Controller", "TestSupport"]),
        .testTarget(name: "HASupportTests", dependencies: ["HASupport", "ToolSupport", "EssentialsExtras", "TestSupport"]),
        .testTarget(name: "PolicyEngineTests", dependencies: ["PolicyEngine", "CIB", "TestSupport"], exclude: ["ratchet.txt"]),
        .testTarget(name: "MessagingTests", dependencies: [
            "Messaging", "LocalIPC", "TestSupport", "CIB", "CIBClient", "LRM", "Stonith", "ToolSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
        ]),
        .testTarget(name: "AgentsTests", dependencies: ["Agents", "LRM", "CIB", "CSystemd", "TestSupport"]),
        .testTarget(name: "StonithTests", dependencies: ["Stonith", "CIB", "LocalIPC", "Messaging", "TestSupport"]),
        .testTarget(name: "ControllerTests", dependencies: ["Controller", "PolicyEngine", "CIB", "TestSupport"]),
        // The whole cluster in one process (docs/DESIGN.md, "How it is tested", 3): every node's
        // ClusterEngine, CIB replica, controller and fencer on a faulty simulated network.
        .testTarget(name: "ClusterSimulationTests", dependencies: ["Controller", "PolicyEngine", "CIB", "Messaging", "Stonith", "TestSupport"]),
        .testTarget(name: "LocalIPCTests", dependencies: [
            "LocalIPC", "TestSupport",
            .product(name: "NIOCore", package: "swift-nio"),
            .product(name: "NIOPosix", package: "swift-nio"),
            .product(name: "NIOEmbedded", package: "swift-nio"),
            .product(name: "NIOTestUtils", package: "swift-nio"),
            .product(name: "Logging", package: "swift-log"),
        ]),
        .testTarget(name: "LRMTests", dependencies: ["LRM", "Agents", "LocalIPC", "CIB", "HostProcesses", "TestSupport"]),
    ]
)
