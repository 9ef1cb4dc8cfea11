/// The Stonith module: fence devices, topology and fencing history.
///
/// Its implementation arrives with issue #6; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum StonithModule {
    /// The issue that delivers this module.
    public static let issue = 6
}
