"""Data the course needs: the offline GPT-2 BPE files, built-in samples, and verified downloads."""
