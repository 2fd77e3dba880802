"""Use cases: one module per thing users do. The CLI, the API and the scheduler call these."""
