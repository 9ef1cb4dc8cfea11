import Testing

// Tests arrive with the code they test (issue #5).
