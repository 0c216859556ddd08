"""The teacher GAN the look family is distilled from.

A conditional U-Net generator (look code + a set of reference photos -> condition), trained against
real makeup references with region discriminators (lips, eyes, cheeks, whole face), with the makeup
renderer (``training.makeup.render``) as its pseudo-paired makeup loss. The runtime student is
distilled from it online (output + feature distillation) and published through the family publisher.

    python -m training.teacher prepare   # one packed data file (JPEG crops, PNG masks, references)
    python -m training.teacher train     # teacher + online student distillation (resumable)
    python -m training.teacher rebuild   # the recorded recipe's whole schedule of segments (resumable)
    python -m training.teacher publish   # the distilled student as look packs
    python -m training.teacher gpu-run   # the prepared one-GPU run (no network, time-boxed)
    python -m training.teacher.ab        # two look sets on the eval faces, as a viewer sees them, each row
                                         # with its sampling spread (``halves``) and the ship rule's answer
"""
