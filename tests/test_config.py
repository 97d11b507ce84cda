"""Run configs: each algorithm's presets, overrides that refuse what the algorithm does not use, config.json."""

import dataclasses
import json

import pytest

import cnfrl
from cnfrl.errors import CnfrlError
from cnfrl.experiments.config import applicable, save_config, validate, with_overrides
from cnfrl.experiments.registry import ALGORITHMS, load_config, preset
from cnfrl.experiments.runs import run_dir_for
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


def test_a_config_json_of_an_old_layout_is_a_one_line_error_naming_the_version(tmp_path):
    """Before `model` and `loop.batch_size`: a `flow` and a `vae` section, and the batch size under `agent`."""
    config = preset("cpu-quick", "plas")
    save_config(config, tmp_path / "config.json")
    assert json.loads((tmp_path / "config.json").read_text())["cnfrl_version"] == cnfrl.__version__
    assert load_config(tmp_path / "config.json") == config
    values = json.loads(json.dumps(dataclasses.asdict(config)))
    values["vae"], values["flow"] = values.pop("model"), {"blocks": 6, "hidden": 128, "latent": "uniform"}
    values["agent"]["batch_size"] = values["loop"].pop("batch_size")
    (tmp_path / "config.json").write_text(json.dumps(values))
    with pytest.raises(CnfrlError, match=r"config.json: settings of another layout .* written by cnfrl a version before 0.1.0"):
        load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text(json.dumps({**values, "cnfrl_version": "0.0.9"}))
    with pytest.raises(CnfrlError, match=r"written by cnfrl 0.0.9 \(this is 0.1.0\): train the run again"):
        load_config(tmp_path / "config.json")


def test_a_damaged_config_json_is_a_one_line_error_naming_the_file(tmp_path):
    (tmp_path / "config.json").write_text('{"algo": "cnf", "seed": ')
    with pytest.raises(CnfrlError, match=r"config.json: not valid JSON .*start the run again with --overwrite"):
        load_config(tmp_path / "config.json")
    (tmp_path / "config.json").write_text("[1, 2]")
    with pytest.raises(CnfrlError, match="config.json: not a cnfrl run config"):
        load_config(tmp_path / "config.json")


def test_grid_wide_overrides_skip_runs_without_the_section():
    shared = ["pretrain.epochs=5", "flow.blocks=2", "loop.updates=100"]
    assert applicable(preset("cpu-quick", "bc"), shared) == ["loop.updates=100"]
    assert applicable(preset("cpu-quick", "cnf"), shared) == shared
    assert applicable(preset("cpu-quick", "plas"), shared) == ["pretrain.epochs=5", "loop.updates=100"]


@pytest.mark.parametrize(
    ("assignment", "message"),
    [
        ("loop.chunk=0", "loop.chunk=0: updates run in chunks of at least 1"),
        ("loop.updates=-5", "loop.updates=-5: the number of updates cannot be negative"),
        ("eval_episodes=0", "eval_episodes=0: evaluation needs at least one episode"),
        ("loop.batch_size=0", "loop.batch_size=0: a minibatch needs at least one transition"),
        ("loop.updates=1500", r"loop.updates \(1500\) and loop.eval_every \(5000\) must be multiples of loop.chunk \(1000\)"),
        ("agent.gamma=1.5", r"agent.gamma=1.5: the discount lies in \(0, 1\]"),
        ("agent.tau=-0.1", r"agent.tau=-0.1: the target rate lies in \[0, 1\]"),
    ],
)
def test_settings_no_run_can_use_are_refused_before_any_data_is_read(assignment, message):
    with pytest.raises(CnfrlError, match=message):
        validate(with_overrides(preset("cpu-quick", "cnf"), [assignment]))
    validate(preset("cpu-quick", "cnf"))


def test_runs_that_differ_in_an_override_get_their_own_default_directory():
    config = preset("cpu-quick", "cnf")
    plain, changed = run_dir_for(config, []), run_dir_for(config, ["agent.awr_lambda=1"])
    assert plain.name == "hopper-medium-demo-cnf-cpu-quick-s0" and changed != plain
    assert run_dir_for(config, ["loop.updates=5000", "agent.awr_lambda=1"]) == changed
