"""The operator's control panel (`appliance tui`): a Textual app over the daemon's admin API.

It imports nothing from the daemon but `appliance.admin` (the client and its wire types), so it
runs the same on the server or over SSH from a laptop, and never pulls in ONNX or hnswlib.
"""
