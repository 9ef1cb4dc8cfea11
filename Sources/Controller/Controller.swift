/// The Controller module: crmd's logic as instances (docs/DESIGN.md): who is DC
/// (`DCElection`), bringing every member's operation history to the DC (`JoinRound`), and
/// running a transition graph (`TransitionExecutor`). crmd's daemon is a shell around them.
public enum ControllerModule {}
