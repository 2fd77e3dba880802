"""rq settings module for the naive baseline's workers (`rq worker -c bench.naive_rq_config`).

rq imports it in the worker's parent process, before any fork. Touching the SDK's lazily imported
Messages API here means each forked job inherits those modules instead of importing them again: measured
on this machine, one forking worker takes about 150 ms a job without it and about 35 ms with it. The
baseline is the naive design at its best, so the ratio against it is not inflated by import time.
"""

from twilio.rest import Client

from alertnet.settings import SIM_ACCOUNT_SID, SIM_AUTH_TOKEN

_ = Client(SIM_ACCOUNT_SID, SIM_AUTH_TOKEN).api.v2010.account.messages
