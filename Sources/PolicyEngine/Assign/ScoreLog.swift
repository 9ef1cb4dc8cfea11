import CIB

/// One line of the allocation and promotion scores (`crm_simulate -s`): the node scores of a
/// resource at the moment a stage of the assignment decided with them, or an instance's
/// promotion score when the roles were chosen.
public enum ScoreLine: Sendable, Equatable {
    /// `stage` is the assignment step that used the scores, named as Pacemaker names it
    /// (`pcmk__primitive_assign`, `pcmk__group_assign`, `pcmk__clone_assign`,
    /// `pcmk__bundle_assign`).
    case allocation(stage: String, resource: String, node: String, score: Int)
    /// `node` is nil for an instance that will not run.
    case promotion(resource: String, node: String?, score: Int)

    /// The line as crm_simulate prints it.
    public var text: String {
        switch self {
        case .allocation(let stage, let resource, let node, let score):
            "\(stage): \(resource) allocation score on \(node): \(Score.text(score))"
        case .promotion(let resource, let node?, let score):
            "\(resource) promotion score on \(node): \(Score.text(score))"
        case .promotion(let resource, nil, let score):
            "\(resource) promotion score (inactive): \(Score.text(score))"
        }
    }
}

extension Assignment {
    /// Records the node scores of `i` (and, recursively, of everything under it) as the
    /// stage `stage` sees them now. Nothing is recorded unless scores were asked for.
    /// Removed resources are left out, as Pacemaker leaves them out.
    mutating func showScores(_ stage: String, _ i: Int) {
        guard scoreLog != nil else { return }
        var lines: [ScoreLine] = []
        func walk(_ j: Int) {
            let r = ws.resources[j]
            if r.orphan { return }
            if let table = tables[j] {
                for node in table.scores.keys.sorted(by: naturalLess) {
                    lines.append(.allocation(stage: stage, resource: r.id, node: node, score: table.scores[node]!))
                }
            }
            for c in r.children { walk(c) }
        }
        walk(i)
        scoreLog!.append(contentsOf: lines)
    }

    mutating func showPromotionScore(_ inst: Int, node: String?, score: Int) {
        guard scoreLog != nil else { return }
        scoreLog!.append(.promotion(resource: ws.resources[inst].id, node: node, score: score))
    }
}
