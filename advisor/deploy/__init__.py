"""What a team ships: the predictor, its single-row fast path, and the verified artifact.

- `predictor`: `Predictor`, the encoder plus the model: one dict, a list of dicts or a DataFrame in.
- `fast`: the single-row path in plain Python and numpy, used once checked against the batch path.
- `modelfile`: models stored without pickle (JSON of allow-listed classes, arrays, LightGBM text).
- `describe`: what an artifact says about itself: schema, preprocessing spec, decision rule, card.
- `artifact`: the zip with its manifest: `write_artifact`, `load_artifact`, `export`.
- `onnx`: ONNX export where a converter exists, checked in onnxruntime before it is written.
"""
