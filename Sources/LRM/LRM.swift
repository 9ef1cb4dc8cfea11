/// The LRM module: the local resource manager's operation queue.
///
/// Its implementation arrives with issue #5; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum LRMModule {
    /// The issue that delivers this module.
    public static let issue = 5
}
