"""CDK constructs for Kizuna: one per capability, composed by infra.stack.KizunaStack."""
