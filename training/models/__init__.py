"""Model architectures: the one place teacher, student, export and tests build their graphs from."""

from training.models.discriminator import MultiScaleDiscriminator
from training.models.student import Student, StudentConfig
from training.models.teacher import StyleEncoder, Teacher, TeacherConfig

__all__ = ["MultiScaleDiscriminator", "StyleEncoder", "Student", "StudentConfig", "Teacher", "TeacherConfig"]
