import HASupport

HASupport.notYetAvailable(program: "corosync-keygen", issue: 4)
