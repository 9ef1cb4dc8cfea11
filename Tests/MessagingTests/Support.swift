import Foundation
import TestSupport

/// Samples under ../shared, through the shared test support.
enum Shared {
    static func text(_ relative: String) -> String? { SharedData.text(relative) }
}
