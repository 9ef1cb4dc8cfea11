/// The Messaging module: membership, total order, quorum and process groups over authenticated UDP.
///
/// Its implementation arrives with issue #4; this file only establishes the module and its
/// borders (see Package.swift and docs/DESIGN.md).
public enum MessagingModule {
    /// The issue that delivers this module.
    public static let issue = 4
}
