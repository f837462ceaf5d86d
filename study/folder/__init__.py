"""The study folder's safety: the claim, the study record, the trial book, status."""
