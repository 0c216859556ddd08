"""Training: data preparation, teacher GAN, distilled student, evaluation."""
