import HASupport

// corosyncd is delivered by issue #4. Until then it says so and exits with
// CRM_EX_UNIMPLEMENT_FEATURE, so that nothing mistakes it for a running daemon.
HASupport.notYetAvailable(program: "corosyncd", issue: 4)
