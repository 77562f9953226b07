"""Diffusion schedule, DDPM/DDIM schedulers and the guidance mean update (stage 2)."""
