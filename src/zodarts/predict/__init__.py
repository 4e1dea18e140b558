"""Predicting new images with a trained run, ensemble or exported model (``zodarts predict``).

``record`` (what a model is fed: size, channels, normalisation, classes), ``models`` (loading
a run folder or an export), ``inputs`` (image files, folders, .npz), ``core`` (the predictions
and their CSV). Nothing is imported here: ``zodarts.export`` reads ``record`` and ``core``
reads ``zodarts.export``.
"""
