"""Hardware layers: `esp32` (MicroPython on the TTGO T-Call) and `host` (CPython, used by the simulator).

Both give the app the same small surface: clock, nvs, sd_root/data_root, rs485, links, mqtt_client(),
partitions, downloader, wifi_scan(), gsm_info(), reset_cause(), last_panic(), reboot(), wdt_feed(), heap(), mac(),
imei(), iccid(), device_id(), random(), firmware_broken(), start_portal(), log_sink, sd_free_kb(),
gsm_failures(). The clock has uptime(), now(), set_time(ts) and maintain(uptime, online).
"""
