"""Infrastructure every stage may use: atomic outputs, terminal-safe text, signals, stage timing, output latency, onnxruntime sessions."""
