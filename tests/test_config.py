"""Run configs: each algorithm's presets, overrides that refuse what the algorithm does not use, config.json."""

import dataclasses
import json

import pytest

from cnfrl.agents.registry import ALGORITHMS, load_config, preset
from cnfrl.config import applicable, save_config, with_overrides
from cnfrl.errors import CnfrlError
from cnfrl.models import FlowConfig, VAEConfig


@pytest.mark.parametrize("name", list(ALGORITHMS))
@pytest.mark.parametrize("preset_name", ["paper", "cpu-quick"])
def test_a_preset_holds_only_what_its_algorithm_uses_and_round_trips(name, preset_name, tmp_path):
    config = preset(preset_name, name)
    kind = ALGORITHMS[name].action_model
    assert config.algo == name and config.preset == preset_name
    assert type(config.model) is {"flow": FlowConfig, "vae": VAEConfig, None: type(None)}[kind]
    assert (config.pretrain is None) == (kind is None)
    save_config(config, tmp_path / "config.json")
    assert load_config(tmp_path / "config.json") == config


def test_the_model_section_answers_to_its_kind_and_refuses_another():
    cnf = with_overrides(preset("cpu-quick", "cnf"), ["flow.blocks=3", "model.hidden=32"])
    assert cnf.model == FlowConfig(blocks=3, hidden=32)
    with pytest.raises(CnfrlError, match="vae.hidden=\\[64\\]: cnf pre-trains a flow, not a vae; set flow.\\* or model.\\*"):
        with_overrides(preset("cpu-quick", "cnf"), ["vae.hidden=[64]"])
    with pytest.raises(CnfrlError, match="flow.blocks=3: plas pre-trains a vae, not a flow"):
        with_overrides(preset("cpu-quick", "plas"), ["flow.blocks=3"])
    with pytest.raises(CnfrlError, match="pretrain.epochs=5: bc pre-trains no action model, so it has no pretrain settings"):
        with_overrides(preset("cpu-quick", "bc"), ["pretrain.epochs=5"])
    with pytest.raises(CnfrlError, match="model.hidden=3: lapo pre-trains no action model"):
        with_overrides(preset("cpu-quick", "lapo"), ["model.hidden=3"])
    with pytest.raises(CnfrlError, match="agent.batch_size=64: the batch size is a loop setting; use loop.batch_size"):
        with_overrides(preset("cpu-quick", "cnf"), ["agent.batch_size=64"])


def test_a_config_json_of_the_old_layout_still_loads(tmp_path):
    """Before `model` and `loop.batch_size`: a `flow` and a `vae` section, and the batch size under `agent`."""
    config = preset("cpu-quick", "plas")
    values = json.loads(json.dumps(dataclasses.asdict(config)))
    values["vae"], values["flow"] = values.pop("model"), {"blocks": 6, "hidden": 128, "latent": "uniform"}
    values["agent"]["batch_size"] = values["loop"].pop("batch_size")
    (tmp_path / "config.json").write_text(json.dumps(values))
    assert load_config(tmp_path / "config.json") == config


def test_grid_wide_overrides_skip_runs_without_the_section():
    shared = ["pretrain.epochs=5", "flow.blocks=2", "loop.updates=100"]
    assert applicable(preset("cpu-quick", "bc"), shared) == ["loop.updates=100"]
    assert applicable(preset("cpu-quick", "cnf"), shared) == shared
