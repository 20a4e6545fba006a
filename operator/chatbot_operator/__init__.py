"""A Kopf operator that reconciles ChatBot resources into running bots."""
