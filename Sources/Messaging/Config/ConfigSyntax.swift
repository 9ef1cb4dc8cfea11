/// The syntax of `corosync.conf`, as corosync's own parser (coroparse) reads it:
///
/// ```
/// # a comment: the first non-blank character of the line is '#'
/// totem {
///     token: 3000
///     interface {
///         linknumber: 0
///     }
/// }
/// ```
///
/// A line is blank, a comment, `name {` (opens a section), `}` (closes one) or `key: value`
/// (the key ends at the first ':'; the value is the rest, trimmed, and may itself hold ':' as in
/// IPv6 addresses). As in corosync, a '#' after a value is part of the value; only whole-line
/// comments exist. `include` is not supported.
public struct ConfigSection: Sendable, Equatable {
    /// One `key: value` line.
    public struct Item: Sendable, Equatable {
        public var key: String
        public var value: String
        /// The 1-based line number in the file.
        public var line: Int

        public init(key: String, value: String, line: Int) {
            self.key = key
            self.value = value
            self.line = line
        }
    }

    /// The section's name (`totem`, `node`, ...); empty for the top level of the file.
    public var name: String
    /// The line that opened the section (0 for the top level).
    public var line: Int
    /// The `key: value` lines directly inside the section, in file order.
    public var items: [Item] = []
    /// The nested sections, in file order.
    public var sections: [ConfigSection] = []

    public init(name: String, line: Int) {
        self.name = name
        self.line = line
    }

    /// The last value given for `key` directly in this section (corosync keeps the last one).
    public func value(_ key: String) -> String? {
        items.last { $0.key == key }?.value
    }

    /// The nested sections called `name`.
    public func sections(named name: String) -> [ConfigSection] {
        sections.filter { $0.name == name }
    }

    /// Parses the text of a corosync.conf into its tree of sections. `file` names the input in
    /// errors.
    public static func parse(_ text: String, file: String = "corosync.conf") throws(ConfigError) -> ConfigSection {
        var stack = [ConfigSection(name: "", line: 0)]
        var lineNumber = 0
        for rawLine in text.split(omittingEmptySubsequences: false, whereSeparator: { $0 == "\n" || $0 == "\r\n" }) {
            lineNumber += 1
            let line = trim(rawLine)
            if line.isEmpty || line.hasPrefix("#") { continue }
            if let brace = line.firstIndex(of: "{") {
                let name = trim(line[..<brace])
                let after = trim(line[line.index(after: brace)...])
                guard !name.isEmpty else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "a section needs a name before '{'; write it as `name {`, for example `totem {`")
                }
                guard after.isEmpty else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "nothing may follow '{' on the line that opens section '\(name)'; put '\(after)' on its own line")
                }
                guard !name.contains(":"), !name.contains(where: \.isWhitespace) else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "'\(name)' is not a section name (one word, no ':'); write `name {` to open a section or `key: value` for a setting")
                }
                guard stack.count < 16 else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "sections are nested more than 16 deep; a '}' is probably missing above this line")
                }
                stack.append(ConfigSection(name: String(name), line: lineNumber))
                continue
            }
            if line.hasPrefix("}") {
                guard line == "}" else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "nothing may follow '}' on its line; put '\(trim(line.dropFirst()))' on its own line")
                }
                guard stack.count > 1 else {
                    throw ConfigError(file: file, line: lineNumber,
                                      "this '}' closes no section; remove it or add the missing `name {` above")
                }
                let done = stack.removeLast()
                stack[stack.count - 1].sections.append(done)
                continue
            }
            guard let colon = line.firstIndex(of: ":") else {
                if line.hasPrefix("include") || line.hasPrefix("include ") {
                    throw ConfigError(file: file, line: lineNumber,
                                      "`include` is not supported; copy the included settings into this file")
                }
                throw ConfigError(file: file, line: lineNumber,
                                  "'\(line)' is neither `key: value` nor `name {` nor `}`; add the ':' between key and value")
            }
            let key = trim(line[..<colon])
            let value = trim(line[line.index(after: colon)...])
            guard !key.isEmpty else {
                throw ConfigError(file: file, line: lineNumber, "a setting needs a key before ':'; write it as `key: value`")
            }
            guard !key.contains(where: \.isWhitespace) else {
                throw ConfigError(file: file, line: lineNumber,
                                  "'\(key)' is not a key (keys are one word, like `token` or `ring0_addr`); write `key: value`")
            }
            stack[stack.count - 1].items.append(Item(key: String(key), value: String(value), line: lineNumber))
        }
        guard stack.count == 1 else {
            let open = stack[stack.count - 1]
            throw ConfigError(file: file, line: open.line,
                              "section '\(open.name)' opened here is never closed; add a '}' at its end")
        }
        return stack[0]
    }

    /// Trims spaces, tabs, carriage returns and no-break spaces (what coroparse trims).
    static func trim(_ s: Substring) -> Substring {
        let blank: (Character) -> Bool = { $0 == " " || $0 == "\t" || $0 == "\r" || $0 == "\u{A0}" }
        guard let first = s.firstIndex(where: { !blank($0) }) else { return "" }
        let last = s.lastIndex(where: { !blank($0) })!
        return s[first...last]
    }

    static func trim(_ s: String) -> Substring { trim(s[...]) }
}

/// A corosync.conf that cannot be used: the file, the line and what to change.
public struct ConfigError: Error, Sendable, Equatable, CustomStringConvertible {
    /// The file (or the name the caller gave the text).
    public var file: String
    /// The 1-based line the problem is on; 0 when it is about the file as a whole.
    public var line: Int
    /// What is wrong and how to fix it.
    public var message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `corosync.conf:12: <message>` (the form compilers use, so editors can jump to it).
    public var description: String {
        line > 0 ? "\(file):\(line): \(message)" : "\(file): \(message)"
    }
}

/// Something in a corosync.conf that is accepted but deserves the operator's attention (an
/// unknown key, encryption turned off...). Collected, never printed by the library.
public struct ConfigWarning: Sendable, Equatable, CustomStringConvertible {
    public var file: String
    public var line: Int
    public var message: String

    public init(file: String, line: Int, _ message: String) {
        self.file = file
        self.line = line
        self.message = message
    }

    /// `corosync.conf:12: warning: <message>`.
    public var description: String {
        line > 0 ? "\(file):\(line): warning: \(message)" : "\(file): warning: \(message)"
    }
}
