"""The denoiser replayed from CUDA graphs during one `sample()` call (`sampling.cuda_graph`).

A sampler calls the denoiser with the same shapes at every step, and on a GPU a small-batch
UNet step is bound by the CPU launching its many small kernels, not by the kernels
themselves. A CUDA graph records those launches once and replays them with one call, so the GPU
runs the very same kernels on the same buffers: the output is bit-identical to eager, only the
launch cost goes.

Per input signature (shapes, dtypes and devices of the tensor arguments, the other arguments'
values), `GraphedDenoiser`
  1st call  runs eagerly on a side stream (the warm-up CUDA graphs need: cuDNN / cuBLAS pick
            their algorithms and workspaces) and returns that output;
  2nd call  captures the forward into a graph reading static input buffers, then replays it;
  later     copies the inputs into the static buffers and replays.
Each replay's output is cloned (multistep samplers keep earlier ε̂). Calls with autograd on
(gradient guiders), on CPU tensors, or with an input that requires grad run eagerly. The graphs
and their memory pools live as long as the wrapper, i.e. one `sample()` call.

Modules whose forward is data dependent (a host sync such as `.item()`, a Python branch on a
tensor value) cannot be captured; capture then raises a one-line SamplingError naming the option.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from .errors import SamplingError


@dataclass
class _Graph:
    graph: torch.cuda.CUDAGraph
    inputs: list[torch.Tensor]  # static buffers, in the order of the flattened arguments
    output: torch.Tensor


class GraphedDenoiser:
    """`fn(*args, **kwargs) -> Tensor`, replayed from one CUDA graph per input signature."""

    def __init__(self, fn: Callable[..., torch.Tensor]) -> None:
        self.fn = fn
        self._warmed: set[tuple] = set()
        self._graphs: dict[tuple, _Graph] = {}

    def __call__(self, *args: Any, **kwargs: Any) -> torch.Tensor:
        names = sorted(kwargs)
        values = [*args, *(kwargs[k] for k in names)]
        tensors = [v for v in values if isinstance(v, torch.Tensor)]
        if (torch.is_grad_enabled() or not tensors
                or any(t.device.type != "cuda" or t.requires_grad for t in tensors)):
            return self.fn(*args, **kwargs)
        key = (len(args), tuple(names), tuple(
            (v.shape, v.dtype, v.device) if isinstance(v, torch.Tensor) else ("value", v)
            for v in values))
        try:
            hash(key)
        except TypeError:  # an unhashable non-tensor argument: no signature, run eagerly
            return self.fn(*args, **kwargs)
        entry = self._graphs.get(key)
        if entry is None:
            if key not in self._warmed:
                self._warmed.add(key)
                return self._warm_up(args, kwargs)
            entry = self._graphs[key] = self._capture(args, names, values)
        for buffer, value in zip(entry.inputs, tensors):
            buffer.copy_(value)
        entry.graph.replay()
        return entry.output.clone()

    def _warm_up(self, args: tuple, kwargs: dict) -> torch.Tensor:
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        with torch.cuda.stream(side):
            out = self.fn(*args, **kwargs)
        torch.cuda.current_stream().wait_stream(side)
        return out

    def _capture(self, args: tuple, names: list[str], values: list[Any]) -> _Graph:
        static = [v.clone() if isinstance(v, torch.Tensor) else v for v in values]
        graph = torch.cuda.CUDAGraph()
        # capture_begin/end on a side stream rather than `torch.cuda.graph`, which also
        # synchronises the device and empties the allocator's cache (every later allocation
        # would go back to cudaMalloc): neither is needed for one forward
        side = torch.cuda.Stream()
        side.wait_stream(torch.cuda.current_stream())
        try:
            with torch.cuda.stream(side):
                graph.capture_begin()
                try:
                    output = self.fn(*static[: len(args)], **dict(zip(names, static[len(args):])))
                except BaseException:
                    with contextlib.suppress(RuntimeError):  # ending a broken capture raises too
                        graph.capture_end()
                    raise
                graph.capture_end()
            torch.cuda.current_stream().wait_stream(side)
        except RuntimeError as exc:  # e.g. a host sync inside the forward
            first = next((line.strip() for line in str(exc).splitlines() if line.strip()),
                         type(exc).__name__)
            raise SamplingError(
                f"sampling.cuda_graph: this denoiser cannot be captured in a CUDA graph "
                f"({first}); sample with --no-cuda-graph (sampling.cuda_graph=false)") from exc
        if not isinstance(output, torch.Tensor):
            raise SamplingError("sampling.cuda_graph: the denoiser must return one tensor; "
                                "sample with --no-cuda-graph (sampling.cuda_graph=false)")
        inputs = [v for v in static if isinstance(v, torch.Tensor)]
        return _Graph(graph, inputs, output)

