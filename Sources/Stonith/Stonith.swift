/// The Stonith module: fence devices from the CIB (`FenceDevice`), fencing topology
/// (`FencingTopology`), a fencing request carried out level by level (`FencingOperation`),
/// and the processes of a node sharing a machine with others (`NodeProcesses`, used by
/// `fence_swiftha`). stonithd is a shell around them.
public enum StonithModule {}

// NodeProcesses and NodeRoots live in HostProcesses (no Foundation, for fence_swiftha's start).
@_exported import HostProcesses
