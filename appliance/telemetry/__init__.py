"""Telemetry: what the appliance reports about itself and the machine it runs on.

`system.py` samples CPU/RAM (psutil) and NVIDIA GPUs (NVML); the event bus and Prometheus
metrics live beside it. Nothing here is imported by the request path's hot loop.
"""
