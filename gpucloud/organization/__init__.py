"""The organization: the guardrails (SCPs) on the tenant OU, and the facts they are built from."""
