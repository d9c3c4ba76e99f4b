"""Predictions: the model registry, training and inference (docs/predictions.md).

``spec`` names models and their metadata, ``repository`` stores them (a protocol and a
filesystem implementation), ``blobs`` is the one place serialising estimators (skops with an
explicit trusted-types list, never pickle), ``training`` fits them with scikit-learn,
``inference`` turns a fitted estimator into a lean per-request predictor and ``features``
computes live features from market events. scikit-learn and skops are imported lazily, so
importing this package stays cheap.
"""
