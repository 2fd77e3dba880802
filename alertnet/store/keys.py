"""Redis key prefixes and queue names, in one place (arq's constants.py)."""

from __future__ import annotations

PREFIX = "an:"

# Contacts registry
OFFICIAL_KEY = PREFIX + "official:"  # + official id -> JSON
OFFICIALS_ALL = PREFIX + "officials"  # set of every official id ever imported
REGISTRY_VERSION = PREFIX + "registry:generation"  # a new random value on every import that changes something
REGISTRY_CHANGES = PREFIX + "registry:changes:"  # + version -> list: previous version, changed ids
REGISTRY_UPLOAD = PREFIX + "registry-upload:"  # + upload id -> hash (a console upload, kept an hour)

# Senders
SENDER_KEY = PREFIX + "sender:"  # + sender name -> hash
SENDER_TOKEN_INDEX = PREFIX + "sender-token:"  # + sha256(token) -> sender name
SENDERS_ALL = PREFIX + "senders"  # set of every sender name
SENDER_PASSWORD = PREFIX + "sender-password:"  # + sender name -> argon2 hash (console sign-in)
SIGNIN_FAILURES = PREFIX + "signin-failures:"  # + "account:" name or "client:" address -> hash n, last
# The console's session cookie; aiohttp-session keeps each session at "an_console_" + its random key.
CONSOLE_COOKIE = "an_console"
APPROVAL_KEY = PREFIX + "approval:"  # + alert id -> JSON (an Actual alert held for a second director)
APPROVALS_PENDING = PREFIX + "approvals:pending"  # zset of held alert ids by the time they were held
REMIND_LOCK = PREFIX + "remind-lock:"  # + alert id -> "1" for a few seconds: a double click reminds once
CONSOLE_DRAFT = PREFIX + "console-draft:"  # + draft id -> JSON (an alert being composed)

# Messages (every kind), alerts and deliveries
MESSAGE_KEY = PREFIX + "msg:"  # + message id -> JSON (kind, priority, content per channel)
ALERT_KEY = PREFIX + "alert:"  # + alert id -> JSON (the signed alert)
ALERTS_INDEX = PREFIX + "alerts"  # zset of alert ids by creation time
DELIVERY_KEY = PREFIX + "dlv:"  # + message id + ":" + channel -> hash official id -> delivery JSON
COUNTS_KEY = PREFIX + "counts:"  # + message id -> hash "channel:state" -> count
TOTALS_KEY = PREFIX + "totals:"  # + message id -> hash channel -> number of deliveries
PROVIDER_INDEX = PREFIX + "provider:"  # + provider message id -> delivery id

# Audit trail
AUDIT_STREAM = PREFIX + "audit"
AUDIT_HEAD = PREFIX + "audit:head"  # hash of the newest entry (the chain's end)
AUDIT_CHECKPOINTS = PREFIX + "audit:checkpoints"  # hash entry id -> JSON {hash, signature, key_id}
# Requests refused for missing or bad credentials: their own capped stream, writes rate-limited per client.
AUDIT_REFUSED_STREAM = PREFIX + "audit:refused"
AUDIT_REFUSED_RATE = PREFIX + "audit:refused-rate:"  # + client address + ":" + minute -> count
# Provider webhooks already handled (a retried or replayed request changes nothing the second time).
WEBHOOK_SEEN = PREFIX + "webhook-seen:"  # + provider kind + ":" + provider id -> "1"

# The weekly school safety update (digest)
DIGEST_ITEM = PREFIX + "digest:item:"  # + item id -> JSON
DIGEST_ITEMS = PREFIX + "digest:items:"  # + issue number -> set of its item ids
DIGEST_ISSUE = PREFIX + "digest:issue:"  # + issue number -> hash (version, approval, state, sent)
DIGEST_SNAPSHOT = PREFIX + "digest:snapshot:"  # + issue number -> JSON list of the items as sent
DIGEST_LAST = PREFIX + "digest:last"  # the newest issue number the schedule has dealt with
DIGEST_SENT = PREFIX + "digest:sent"  # zset issue number -> sent time (the public archive)
DIGEST_TESTS = PREFIX + "digest:tests:"  # + sender + ":" + UTC day -> test emails sent that day
UNSUBSCRIBED = PREFIX + "unsub:"  # + mailing list -> set of official ids who left it (not the registry)
EMAIL_PROBLEM = PREFIX + "email-problem:"  # + lower-cased address -> hash of bounce/complaint counts
EMAIL_PROBLEMS = PREFIX + "email-problems"  # set of addresses with any problem recorded
EMAIL_SUPPRESSED = PREFIX + "email-suppressed"  # set of addresses no mailing list sends to

# Cyber threat bulletins
BULLETIN_KEY = PREFIX + "bulletin:"  # + id -> hash {json, version, state, sent_gen, notice_sent}
BULLETINS_INDEX = PREFIX + "bulletins"  # zset id -> creation time
BULLETIN_SENT = PREFIX + "bulletin-sent:"  # + id + ":" + channel -> set of official ids it was sent to
BULLETIN_MESSAGES = PREFIX + "bulletin-msgs:"  # + id -> list of the message ids that carried it
BULLETIN_ACCESS = PREFIX + "bulletin-access:"  # + id -> stream of views and downloads (restricted labels)

# Rate limiting
RATE_KEY = PREFIX + "rate:"

# Deployment-wide metrics (alertnet.store.metrics): hashes of counters, fields "label|label|..."
METRICS_DELIVERIES = PREFIX + "metrics:deliveries"  # "channel|state" -> deliveries that entered it
METRICS_MESSAGES = PREFIX + "metrics:messages"  # kind -> messages fanned out
METRICS_RECIPIENTS = PREFIX + "metrics:recipients"  # "kind|channel" -> deliveries they were fanned out to
METRICS_ACKS = PREFIX + "metrics:acks"  # ack channel -> first acks
METRICS_ACK_SECONDS = PREFIX + "metrics:ack-seconds"  # "channel|le" or "channel|sum" / "channel|count"
METRICS_REQUESTS = PREFIX + "metrics:requests"  # "provider|channel|le", "...|sum", "...|count"
METRICS_REQUEST_ERRORS = PREFIX + "metrics:request-errors"  # "provider|channel|status|code" -> count
METRICS_WEBHOOK_REJECTED = PREFIX + "metrics:webhook-rejected"  # "provider|reason" -> count

# rq queues, in priority order: a worker always drains the first non-empty one.
QUEUE_CRITICAL = "alertnet-critical"
QUEUE_HIGH = "alertnet-high"
QUEUE_BULK = "alertnet-bulk"
# Cyber bulletins sent at once: behind every alert (and its call-out), ahead of the weekly digest.
QUEUE_NOTICE = "alertnet-notice"
# Calls are paced by the provider (one a second per account by default): their batches wait here, behind
# every alert's messages, so a new alert's SMS and email never wait behind another alert's call-out.
QUEUE_CALLS = "alertnet-calls"
QUEUES = (QUEUE_CRITICAL, QUEUE_HIGH, QUEUE_CALLS, QUEUE_NOTICE, QUEUE_BULK)

# Fan-out batches: one rq job each; a lease shows its worker is alive.
BATCH_KEY = PREFIX + "batch:"  # + batch id -> JSON {alert_id, channel, ids, requeues}
BATCH_LEASES = PREFIX + "batch-leases"  # zset batch id -> lease expiry (unix seconds)
BATCH_LEASE_SECONDS = 15.0
BATCH_MAX_REQUEUES = 3

# Acknowledgements and escalation
RECIPIENTS_KEY = PREFIX + "recipients:"  # + alert id -> set of official ids the alert first went to
ACKS_KEY = PREFIX + "acks:"  # + alert id -> hash official id -> Ack JSON (first ack wins)
REACHED_KEY = PREFIX + "reached:"  # + alert id -> set of officials escalation reached beyond the recipients
ACK_OPEN = PREFIX + "ack-open"  # zset alert id -> sent time: alerts a bare "1" may still acknowledge
CODE_KEY = PREFIX + "code:"  # + verification code -> alert id
CLOSED_KEY = PREFIX + "closed:"  # + alert id -> why escalation ended (cancelled, all clear)
INBOUND_STREAM = PREFIX + "inbound"  # inbound SMS that were not acknowledgements, for the operator
SMS_OPT_OUT = PREFIX + "sms-opt-out"  # numbers that replied STOP: no newsletters; critical alerts still go
ESCALATION_DUE = PREFIX + "esc:due"  # zset "alert_id|wave" -> due time
ESCALATION_FIRING = PREFIX + "esc:firing"  # zset "alert_id|wave" -> lease expiry while a scheduler fires it
ESCALATION_PLAN = PREFIX + "esc:plan:"  # + alert id -> JSON {policy, waves: [{wave, step, repetition, due}]}
ESCALATION_LATENESS = PREFIX + "esc:lateness"  # list of recent step lateness in seconds (newest first)
ALERT_SCHOOLS = PREFIX + "alert-schools:"  # + alert id -> hash official id -> JSON [district, school]
DRILL = PREFIX + "drill:"  # notification drills: the sub-keys are in alertnet.store.drills
# Status checks (polls) on alerts (alertnet.store.polls)
POLL_LATEST = PREFIX + "poll-latest:"  # + alert id -> hash official id -> their latest answer (JSON)
POLL_HISTORY = PREFIX + "poll-history:"  # + alert id -> list of every answer (JSON), oldest first
POLL_SCHOOLS = PREFIX + "poll-schools:"  # + alert id -> hash school (casefolded JSON) -> its latest answer
POLL_OPEN = PREFIX + "polls:open"  # zset: alert id -> sent time, of open alerts that ask a question
POLL_NOTIFIED = PREFIX + "poll-notified:"  # + alert id + ":" + official + ":" + answer: notice sending/sent
POLL_NOTICES_DUE = PREFIX + "poll-notices-due"  # zset: [alert, official, answer] (JSON) -> answered at

# Alert requests sent with an Idempotency-Key (alertnet.services.once)
IDEMPOTENCY = PREFIX + "idempotency:"  # + sha256(sender, Idempotency-Key) -> "<alert id> <body sha256>"

# CAP 1.2 (alertnet.services.cap)
CAP_TAKEN = PREFIX + "cap-taken:"  # + origin key of a CAP message taken in -> alert id ("pending" while sent)
ALERTS_PUBLIC = PREFIX + "alerts:public"  # zset of public alert ids by sent time (the Atom feed)

# Durable writes (alertnet.store.durable): a counter written just before each WAIT for replicas.
DURABLE_PROBE = PREFIX + "durable-probe"
