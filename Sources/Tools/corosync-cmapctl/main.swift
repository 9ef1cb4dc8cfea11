import HASupport

// corosync-cmapctl arrives with corosyncd's IPC (issue #4). Until then it says so and exits 3.
HASupport.notYetAvailable(program: "corosync-cmapctl", issue: 4)
