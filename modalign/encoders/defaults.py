"""The training recipe's numbers, in one place (``modalign.encoders.fit.recipe()``).

``HeadSpec`` and ``TrainConfig`` take their defaults from here, so ``TrainConfig()`` is the
configuration ``modalign train`` uses when given no options, and the command's option defaults
read the same names. This module imports nothing heavy, so the command line can import it.

The frozen towers' features overfit a few thousand pairs, so the heads are regularised (dropout on
inputs and hidden layers, noise on image features); width, dropout and learning rate were chosen
on validation R@10 over 5 seeds (`bench/seeds.py`; the figures are in docs/experiments.md).
"""

from __future__ import annotations

from typing import Final

HIDDEN_DIM: Final = 2048
HEAD_DROPOUT: Final = 0.2
INPUT_DROPOUT: Final = 0.2
EPOCHS: Final = 30
LEARNING_RATE: Final = 2e-3
WEIGHT_DECAY: Final = 0.05
FEATURE_NOISE: Final = 0.5
TEXT_NOISE: Final = 0.0
#: the name caption's share of sampled captions: names are short and most captions describe
FIRST_CAPTION_PROB: Final = 0.3
TOWER_LR_SCALE: Final = 0.1
TRAINING_VIEWS: Final = ("plain", "flip")  # of "plain", "flip", "zoom"
MEMORY_NEIGHBOURS: Final = 10
MEMORY_TEMPERATURE: Final = 0.1
MEMORY_WEIGHT: Final = 1.0
