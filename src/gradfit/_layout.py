"""The flat parameter layout: W0 (IN0, OUT0), b0 (OUT0), W1, b1, ... row-major.

The C core (csrc/gradfit.h) uses the same layout for params, gradients and
optimizer state."""


def layer_views(flat, layer_sizes):
    """Per-layer (weights, biases) views into a flat buffer."""
    weights, biases, offset = [], [], 0
    for fan_in, fan_out in zip(layer_sizes[:-1], layer_sizes[1:]):
        weights.append(flat[offset:offset + fan_in * fan_out].reshape(fan_in, fan_out))
        offset += fan_in * fan_out
        biases.append(flat[offset:offset + fan_out])
        offset += fan_out
    return weights, biases
