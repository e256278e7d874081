"""Bulk ingestion: read sources, validate and decode images, embed them and record them.

``sources`` streams items out of a folder, a JSONL manifest, COCO captions or Flickr30K captions;
``images`` and ``captions`` validate each item; ``pipeline`` runs one batch; ``jobs`` plans and
dispatches batches in-process or through Celery.
"""
