/// The PolicyEngine module: a pure function from a CIB snapshot and a time to a transition graph.
///
/// Its implementation arrives with issue #3; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum PolicyEngineModule {
    /// The issue that delivers this module.
    public static let issue = 3
}
