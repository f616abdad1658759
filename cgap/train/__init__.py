"""CGaP training: seed → saliency-guided growth → continuous structured pruning → fine-tune.

Modules: ``config`` (TrainConfig), ``surgery`` (index-based physical rebuild of a zoo model),
``saliency``, ``grow``, ``prune``, ``metrics`` (params/MACs), ``coupling`` (Torch-Pruning cross-check),
``history``, ``plots``, ``resume``, ``policy`` (when to grow, prune and stop; plain Python, no torch),
``progress`` (a bar on a terminal, a line per epoch elsewhere) and ``loop`` (the training loop, which asks
the policy).  Nothing registers itself on import.
"""
