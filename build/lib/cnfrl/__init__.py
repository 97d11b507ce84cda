"""cnfrl: offline reinforcement learning in the latent space of normalizing flows."""

from cnfrl.data import Transitions, load_dataset
from cnfrl.errors import CnfrlError, DatasetError

__all__ = ["CnfrlError", "DatasetError", "Transitions", "load_dataset"]
__version__ = "0.1.0"
