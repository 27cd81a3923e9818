"""Audio as one typed value (float32 PCM + sample rate); codecs and resampling only at the edges."""
