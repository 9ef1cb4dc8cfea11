import HASupport

// lrmd is delivered by issue #5. Until then it says so and exits with
// CRM_EX_UNIMPLEMENT_FEATURE, so that nothing mistakes it for a running daemon.
HASupport.notYetAvailable(program: "lrmd", issue: 5)
