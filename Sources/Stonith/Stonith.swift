/// The Stonith module: fence devices from the CIB (`FenceDevice`), fencing topology
/// (`FencingTopology`), a fencing request carried out level by level (`FencingOperation`),
/// and the processes of a node sharing a machine with others (`NodeProcesses`, used by
/// `fence_swiftha`). stonithd is a shell around them.
public enum StonithModule {}
