/// The digest of an operation's parameters, exactly as Pacemaker computes an operation digest:
/// MD5 of ` <parameters NAME="VALUE" .../>` plus a newline, the attributes sorted by name and
/// escaped as Pacemaker escapes them (`&amp; &lt; &gt; &quot; &apos;`). A changed digest tells
/// the controller that a resource's definition changed since the operation ran.
///
/// Pacemaker's "all" digest of an operation also covers its `CRM_meta_timeout`; the controller
/// adds that parameter when it wants that digest.
public enum ParameterDigest {
    /// The hex digest of `parameters`.
    public static func digest(_ parameters: [String: String]) -> String {
        CIBDigest.md5Hex(Array(canonicalText(parameters).utf8))
    }

    /// The digest an operation is recorded with (its `op-digest`): of its parameters, plus, for
    /// a recurring operation, its timeout as `CRM_meta_timeout`, which Pacemaker's controller
    /// keeps in that digest (a recurring operation whose timeout changed is scheduled again).
    public static func operationDigest(_ parameters: [String: String], intervalMS: Int, timeoutMS: Int) -> String {
        guard intervalMS > 0 else { return digest(parameters) }
        var p = parameters
        p["CRM_meta_timeout"] = String(timeoutMS)
        return digest(p)
    }

    /// The text that is digested.
    public static func canonicalText(_ parameters: [String: String]) -> String {
        var text = " <parameters"
        for (name, value) in parameters.sorted(by: { Array($0.key.utf8).lexicographicallyPrecedes(Array($1.key.utf8)) }) {
            text += " \(name)=\"\(escape(value))\""
        }
        return text + "/>\n"
    }

    private static func escape(_ value: String) -> String {
        var out = ""
        out.reserveCapacity(value.utf8.count)
        for c in value.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&quot;"
            case "'": out += "&apos;"
            case "\n": out += "&#10;"
            case "\r": out += "&#13;"
            case "\t": out += "&#9;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }
}

