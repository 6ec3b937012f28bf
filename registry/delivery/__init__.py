"""Webhook delivery: follows the audit log (the outbox) and sends each event, signed, to the webhooks that want it.

``events`` turns audit records into events, ``outbox`` keeps deliveries in the
database (fan-out, claims, results, backoff), ``sender`` makes one signed,
SSRF-checked request, and ``worker`` runs them in the one process elected
through the database.
"""
