/// The Controller module: crmd's logic: DC election, join, and the transition executor.
///
/// Its implementation arrives with issue #6; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum ControllerModule {
    /// The issue that delivers this module.
    public static let issue = 6
}
