"""Retraining a genotype from scratch and measuring it."""
