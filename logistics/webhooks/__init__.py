"""Signed webhooks to agencies and the province's one-stop system: subscriptions, deliveries, retries, replay."""
