"""Routing: addresses, geocoding, which agency, post office and courier, and the couriers' daily runs."""
