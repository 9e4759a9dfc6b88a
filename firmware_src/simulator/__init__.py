"""Fleet simulator: many gateways running this firmware on the host HAL in one process.

    from firmware_src.simulator import Fleet
    with Fleet("mqtt://127.0.0.1:1883", "http://127.0.0.1:8000", n=5) as fleet:
        fleet.devices[0].wifi_down()
"""

from firmware_src.simulator.fleet import Fleet, SimDevice, device_id_for

__all__ = ["Fleet", "SimDevice", "device_id_for"]
