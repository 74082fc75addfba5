"""The journey simulator (`kizuna journeys simulate`): a journey run on the virtual clock by the production engine
(kizuna.services.journey_runs and kizuna.domain.journey_steps) over the in-memory adapters.

- world: the simulated app — its endpoints, segments, stand-in templates — and the journey, reviewed and published.
- driver: the state machine's loop (wake the shards, plan, wait or continue as a new execution), a sender with a
  deterministic delivery outcome, and the replies that drive reply-based splits.
- report: each participant's path with timestamps and a summary, as text or JSON.
"""
