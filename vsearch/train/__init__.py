"""Training of dual encoders (CLIP / ALIGN / SigLIP losses; locked, LiT, partial, full tuning)."""
