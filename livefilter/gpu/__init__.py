"""Device plumbing every stage's device twin shares: double-buffered frames, CUDA graphs, per-frame
parameter staging, the pipeline's streams, event timing and CUDA runtime memory (``cuda_mem``, for
TensorRT's own bindings). The device twins themselves live beside their host versions in each stage's
package; on a CPU device they run the same maths (that is how their parity with the NumPy path is
tested on machines without a GPU).
"""
