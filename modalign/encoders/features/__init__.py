"""Tower features of a dataset, computed once and cached on disk.

- :mod:`.cache`: the on-disk cache, keyed by tower id and content hash;
- :mod:`.extract`: computing what the cache lacks (decoding overlapped with inference) and
  assembling a split's features from it;
- :mod:`.source`: the entry point training and evaluation use (towers load only when needed).
"""
