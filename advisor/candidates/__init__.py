"""What can be trained: the catalog, the builders, the networks and the compression lab.

- `catalog`: reads `catalog/*.toml` into `CandidateSpec`s, the `Registry` and `TargetProfile`s.
- `context`: `TrainContext` (what every builder receives) and the `FittedModel` protocol.
- `builders`: the table models (baseline, linear, tree, forest, LightGBM).
- `layers`, `networks`: torch MLPs: the layer stack, training, `TorchModel`.
- `codecs`: the stored forms of a network's weights (fp16, int8, packed bits, compressed).
- `compress`: the compression lab (low precision, pruning, fine-tuning, the ensemble model).
- `selection`: greedy ensemble selection (Caruana et al.) on validation predictions, pure numpy.
- `augment`: MUNGE synthetic rows for distillation, keeping the encoder's column types.
- `distill`: the selected ensemble's builder and the distilled students (cross-fitted, augmented).
- `threshold`: a binary candidate's decision threshold, chosen on the validation split.
- `registry`: every builder by its catalog name, and plug-in builders.
"""
