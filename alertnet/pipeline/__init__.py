"""The fan-out: enqueue in one transaction, run batches in rq workers, pace, escalate, reconcile."""
