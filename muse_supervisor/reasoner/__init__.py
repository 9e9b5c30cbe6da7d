"""The reasoner: incidents in, ranked recovery plans made only of allow-listed skills out."""
