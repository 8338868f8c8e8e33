"""Telling the team's tools: signed JSON webhooks (Standard Webhooks 1.0), Slack and Teams
messages, delivered from one background thread with retries, a bounded queue and a
delivery log in the journal. Torch-free; the daemon's notify receiver and the `notify`
commands build on it.

signing.py    message ids and the webhook-id / webhook-timestamp / webhook-signature headers
text.py       one readable line per event, and the gallery link of its campaign
formats.py    the bodies: json (the event), slack (blocks + text), teams (Adaptive Card)
batching.py   photo events gathered per campaign, so a big drop is a handful of messages
transport.py  one POST or one command run that ends by its deadline
delivery.py   endpoints, and one message tried with backoff until delivered or given up
notifier.py   the queue (drops the oldest when full), the thread, the delivery log
"""
