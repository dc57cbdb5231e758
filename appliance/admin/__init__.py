"""The admin API's client and wire types: all the TUI (or any remote tool) may import.

Nothing here imports ONNX, hnswlib or llama.cpp, so a control panel on a laptop stays light.
"""
