"""Moving off Amazon Pinpoint: a CloudFormation (or CDK-synthesized) template's Pinpoint resources recreated in Kizuna.

template (read JSON/YAML with short tags) → resolve (intrinsic functions, references between Pinpoint resources)
→ mapping (CloudFormation properties → Kizuna API requests, decisions, blockers) → plan (order, status, table)
→ apply_steps / apply (find, compare, create or update through the API; the report). Command: kizuna.cli_migrate.
"""
