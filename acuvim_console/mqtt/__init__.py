"""The console's MQTT side: topic names, payload validation, the publisher and the ingesting bridge."""
