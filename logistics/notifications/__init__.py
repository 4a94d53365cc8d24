"""Citizen and staff notifications: Vietnamese message templates, SMS and e-mail providers, each message once."""
