import HASupport

// corosync-cfgtool arrives with corosyncd's IPC (issue #4). Until then it says so and exits 3.
HASupport.notYetAvailable(program: "corosync-cfgtool", issue: 4)
