"""An export program (`numpy_policy.Step`s) written as an ONNX graph: observations (batch x obs_dim, the batch
dynamic) -> actions, the weights as initializers, the run's description in the model's metadata.

Written from the program rather than traced from JAX: the frozen flow's inverse matrices are computed once at
export, and each step maps onto a handful of standard ONNX operators (opset 17), so the graph runs in any ONNX
runtime and computes what the NumPy policy computes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from cnfrl.export.numpy_policy import Step

OPSET = 17
IR_VERSION = 8


class _Graph:
    def __init__(self, arrays: dict[str, np.ndarray]):
        from onnx import numpy_helper

        self.nodes: list[Any] = []
        self.initializers = [numpy_helper.from_array(np.asarray(v, np.float32), name) for name, v in arrays.items()]
        self.count = 0

    def constant(self, value: Any, dtype: Any = np.float32) -> str:
        from onnx import numpy_helper

        self.count += 1
        name = f"c{self.count}"
        self.initializers.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def node(self, op: str, inputs: list[str], out: str | None = None, **attributes: Any) -> str:
        from onnx import helper

        self.count += 1
        out = out or f"t{self.count}"
        self.nodes.append(helper.make_node(op, inputs, [out], **attributes))
        return out

    def columns(self, x: str, start: int, stop: int) -> str:
        return self.node(
            "Slice",
            [x, self.constant([start], np.int64), self.constant([stop], np.int64), self.constant([1], np.int64)],
        )

    def concat(self, inputs: list[str]) -> str:
        return inputs[0] if len(inputs) == 1 else self.node("Concat", inputs, axis=-1)

    def dense_stack(self, x: str, step: Step) -> str:
        layers = step["layers"]
        for index, (kernel, bias) in enumerate(layers):
            x = self.node("Add", [self.node("MatMul", [x, kernel]), bias])
            if index < len(layers) - 1:
                x = self.node("Relu", [x]) if step["activation"] == "relu" else self.node("PRelu", [x, step["slopes"][index]])
        return x


def to_onnx(program: list[Step], arrays: dict[str, np.ndarray], observation_dim: int, action_dim: int, metadata: dict[str, Any]):
    """The policy program as an onnx.ModelProto (needs the `onnx` package: pip install cnfrl[export])."""
    from onnx import TensorProto, helper

    graph = _Graph({name: value.reshape(1) if value.ndim == 0 else value for name, value in arrays.items()})
    for step in program:
        inputs, op, out = step["in"], step["op"], step["out"]
        x = inputs[0]
        if op == "normalize":
            graph.node("Div", [graph.node("Sub", [x, step["mean"]]), step["std"]], out)
        elif op == "dense_stack":
            graph.node("Identity", [graph.dense_stack(graph.concat(inputs), step)], out)
        elif op == "slice":
            graph.node("Identity", [graph.columns(x, step["start"], step["stop"])], out)
        elif op == "tanh":
            graph.node("Tanh", [x], out)
        elif op == "scale":
            graph.node("Mul", [x, graph.constant(step["factor"])], out)
        elif op == "clip":
            graph.node("Clip", [x, graph.constant(step["low"]), graph.constant(step["high"])], out)
        elif op == "atanh":
            clipped = graph.node("Clip", [x, graph.constant(-step["clip"]), graph.constant(step["clip"])])
            graph.node("Atanh", [clipped], out)
        elif op == "matmul":
            graph.node("MatMul", [x, step["matrix"]], out)
        elif op == "affine":
            graph.node("Add", [graph.node("Mul", [x, step["scale"]]), step["shift"]], out)
        elif op == "coupling_inverse":
            _coupling_inverse(graph, x, inputs[1], step, out)
        elif op == "axpy":
            graph.node("Add", [x, graph.node("Mul", [inputs[1], graph.constant(step["factor"])])], out)
        elif op == "zeros":
            graph.node("MatMul", [x, graph.constant(np.zeros((observation_dim, step["dim"])))], out)
        else:
            raise ValueError(f"unknown step {op!r} in the policy program")
    inputs = [helper.make_tensor_value_info("observations", TensorProto.FLOAT, ["batch", observation_dim])]
    outputs = [helper.make_tensor_value_info("actions", TensorProto.FLOAT, ["batch", action_dim])]
    model = helper.make_model(
        helper.make_graph(graph.nodes, "cnfrl_policy", inputs, outputs, graph.initializers),
        opset_imports=[helper.make_opsetid("", OPSET)],
        producer_name="cnfrl",
    )
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {key: str(value) for key, value in metadata.items()})
    return model


def _coupling_inverse(graph: _Graph, x: str, states: str, step: Step, out: str) -> None:
    """(part B - shift) * exp(-rescale * tanh(raw)), [raw, shift] = MLP([part A, state]); part A passes through."""
    d = step["dim"]
    a_size = step["a_size"]
    b_size = d - a_size
    if step["flip"]:
        part_b, part_a = graph.columns(x, 0, b_size), graph.columns(x, b_size, d)
    else:
        part_a, part_b = graph.columns(x, 0, a_size), graph.columns(x, a_size, d)
    conditioner = graph.dense_stack(graph.concat([part_a, states]) if a_size else states, step)
    raw, shift = graph.columns(conditioner, 0, b_size), graph.columns(conditioner, b_size, 2 * b_size)
    log_scale = graph.node("Mul", [step["rescale"], graph.node("Tanh", [raw])])
    new_b = graph.node("Mul", [graph.node("Sub", [part_b, shift]), graph.node("Exp", [graph.node("Neg", [log_scale])])])
    graph.node("Concat", [new_b, part_a] if step["flip"] else [part_a, new_b], out, axis=-1)
