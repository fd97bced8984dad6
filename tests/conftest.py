import pytest
import torch

import gin


@pytest.fixture(autouse=True)
def _fresh_state():
    """Each test starts with no gin bindings and a fixed seed."""
    gin.clear_config()
    torch.manual_seed(0)
    yield
    gin.clear_config()
