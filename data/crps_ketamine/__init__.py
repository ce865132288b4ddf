"""The CRPS ketamine case study: data, published figures and the analysis plan (see README.md)."""
