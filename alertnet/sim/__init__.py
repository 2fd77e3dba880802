"""Local simulators of the Twilio REST API and the SendGrid v3 API, for development, tests and benchmarks."""

from alertnet.sim.app import create_sim_app, run_sim
from alertnet.sim.settings import SimSettings

__all__ = ["SimSettings", "create_sim_app", "run_sim"]
