"""The dual encoder: pretrained towers, projection heads, InfoNCE training, evaluation, checkpoints.

Heavy libraries (torch, onnxruntime, sentence-transformers) are imported by the submodules that need
them; importing this package is cheap.
"""
