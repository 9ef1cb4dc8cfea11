import HASupport

HASupport.notYetAvailable(program: "crm_simulate", issue: 3)
