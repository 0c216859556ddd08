"""Model architectures: the one place teacher, student, export and tests build their graphs from.

Import the module you need (``training.models.student``, ``.teacher``, ``.discriminator``): nothing is
imported eagerly, so a run that trains the student alone never loads the teacher's code.
"""
