// An example of using SwiftHA's CIB library from another Swift tool: read a CIB file (or the
// one CIB_file names), validate it, and print its nodes, resources and constraints.
//
//     swift run cib-summary /var/lib/pacemaker/cib/cib.xml

import CIB
import Foundation

let path = CommandLine.arguments.dropFirst().first ?? ProcessInfo.processInfo.environment["CIB_file"]
guard let path else {
    print("usage: cib-summary CIB.xml")
    exit(64)
}

do {
    let (cib, report) = try CIBValidator.validate(try CIBFile.read(path), source: path)
    print("CIB \(cib.version) (\(cib.validateWith ?? "no schema")), digest \(cib.digest)")
    let config = cib.configuration
    print("\(config.nodes.count) nodes: \(config.nodes.map(\.uname).joined(separator: ", "))")
    for resource in config.resources {
        describe(resource, indent: "  ")
    }
    print("\(config.constraints.count) constraints")
    for problem in report.problems { print(problem) }
    exit(report.isValid ? 0 : 78)
} catch {
    print("cib-summary: \(error)")
    exit(65)
}

func describe(_ r: Resource, indent: String) {
    switch r {
    case .primitive(let p): print("\(indent)\(p.id) (\(p.agent))")
    case .group(let g): print("\(indent)group \(g.id)")
    case .clone(let c): print("\(indent)\(c.isPromotable ? "promotable clone" : "clone") \(c.id)")
    case .bundle(let b): print("\(indent)bundle \(b.id)")
    }
    for child in r.children { describe(child, indent: indent + "  ") }
}
