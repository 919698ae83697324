"""ldm-plugin-data: datasets from bundled data (sklearn digits, skimage LFW) and user folders."""
