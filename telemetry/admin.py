"""Nothing of telemetry is an admin list: Django's admin cannot show models keyed by (device, time).

Readings and rollups are reached from the device page (charts, CSV downloads) and the REST API.
"""
