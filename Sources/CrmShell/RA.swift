import EssentialsExtras
import Agents
import CIB

/// What `crm ra` prints, in crmsh's layout.
public enum CrmRA {
    /// A list in columns as `ls` lays it out, for a terminal `width` wide (crmsh's layout).
    public static func columns(_ names: [String], width: Int = 80) -> String {
        guard !names.isEmpty else { return "" }
        let longest = max(8, names.map(\.count).max() ?? 0)
        let cols = max(1, width / (longest + 2))
        let colWidth = width / cols
        var lines: [String] = []
        var i = 0
        while i < names.count {
            let row = names[i..<min(i + cols, names.count)]
            var line = ""
            for (k, n) in row.enumerated() {
                line += k == row.count - 1 ? n : n.padded(toLength: max(colWidth, n.count))
            }
            lines.append(line)
            i += cols
        }
        return lines.joined(separator: "\n")
    }

    /// `crm ra info`: title, description, parameters and the actions' advised defaults.
    public static func info(_ m: AgentMetadata, agent: String, actionsXML: [XElement]? = nil) -> String {
        var blocks: [String] = []
        /// A short description that only repeats the name or the long one is left out (crmsh's rule).
        func short(_ text: String?, name: String, long: String?) -> String? {
            guard let text, !text.isEmpty, text != name, text != long, text != m.name else { return nil }
            return text
        }
        blocks.append(short(m.shortDescription, name: m.name, long: m.longDescription).map { "\($0) (\(agent))" } ?? agent)
        if let long = m.longDescription, !long.isEmpty { blocks.append(long) }
        var params: [String] = []
        for p in m.parameters {
            var head = p.name + (p.required ? "*" : "")
            if let d = p.defaultValue, !d.isEmpty { head += " (\(p.type), [\(d)])" } else { head += " (\(p.type))" }
            head += ": \(short(p.shortDescription, name: p.name, long: p.longDescription) ?? "")"
            var s = head
            if let long = p.longDescription, !long.isEmpty {
                s += "\n    " + long.replacingEvery("\n", with: "\n    ") + "\n"
            }
            params.append(s)
        }
        if !params.isEmpty {
            var text = "Parameters (*: required, []: default):\n\n" + params.joined(separator: "\n")
            while text.hasSuffix("\n") || text.hasSuffix(" ") { text.removeLast() }
            blocks.append(text)
        }
        var actions: [String] = []
        for a in m.actions where a.name != "meta-data" && a.name != "validate-all" {
            var s = a.name.padded(toLength: max(13, a.name.count))
            if let t = a.timeout { s += " timeout=\(seconds(t))" }
            if let i = a.interval { s += " interval=\(seconds(i))" }
            if let d = a.depth { s += " depth=\(d)" }
            if let r = a.role { s += " role=\(r)" }
            actions.append("    " + s)
        }
        if let actionsXML {
            // The agent's own attribute order, as crmsh prints it.
            actions = actionsXML.compactMap { a in
                guard let name = a["name"], name != "meta-data", name != "validate-all" else { return nil }
                var s = name.padded(toLength: max(13, name.count))
                for attr in a.attributes where attr.name != "name" && !attr.value.isEmpty { s += " \(attr.name)=\(attr.value)" }
                return "    " + s
            }
        }
        if !actions.isEmpty { blocks.append("Operations' defaults (advisory minimum):\n\n" + actions.joined(separator: "\n")) }
        return blocks.joined(separator: "\n\n")
    }

    static func seconds(_ d: Duration) -> String {
        let ms = d.components.seconds * 1000 + d.components.attoseconds / 1_000_000_000_000_000
        return ms % 1000 == 0 ? "\(ms / 1000)s" : "\(ms)ms"
    }
}
