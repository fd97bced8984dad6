import gin
import pytest
import torch


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with no gin bindings and a fixed seed."""
    gin.clear_config()
    torch.manual_seed(0)
    yield
    gin.clear_config()


def _import_train_script() -> None:
    """Make scripts/train.py importable as ``scripts_train`` for the CLI tests."""
    import importlib.util
    import sys
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "scripts" / "train.py"
    spec = importlib.util.spec_from_file_location("scripts_train", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["scripts_train"] = module
    spec.loader.exec_module(module)


_import_train_script()
