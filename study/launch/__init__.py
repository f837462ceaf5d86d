"""One launch: Ray start, batches of trials, search, progress, compaction, HoG-SVM and orientation
jobs."""
