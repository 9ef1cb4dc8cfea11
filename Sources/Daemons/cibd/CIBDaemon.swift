import HASupport

// cibd is delivered by issue #6. Until then it says so and exits with
// CRM_EX_UNIMPLEMENT_FEATURE, so that nothing mistakes it for a running daemon.
HASupport.notYetAvailable(program: "cibd", issue: 6)
