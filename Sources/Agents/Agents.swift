/// The Agents module: the OCF, LSB, systemd and fence-agent standards.
///
/// Its implementation arrives with issue #5; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum AgentsModule {
    /// The issue that delivers this module.
    public static let issue = 5
}
